package redis

import goredis "github.com/redis/go-redis/v9"

// The Lua scripts. Each touches the keys of one hash slot only (one room,
// one connection, or the liveness set), so they run unchanged on Cluster.
// Numbers cross the boundary as decimal strings; seqs and versions stay far
// below 2^53, where Lua's doubles are exact.

// nowMS is the server clock in milliseconds: every node shares it, so node
// clock skew cannot expire connections or history early.
const nowMS = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`

// roomTTL expires or persists every key of a room that outlives its
// members: meta, hist and the state hash of each namespace meta lists
// (fields "ns:<ns>", set by the commit script). The names are derived from
// meta's, so they share its hash slot.
const roomTTL = `
local function room_keys(meta)
  local base = string.sub(meta, 1, -6)
  local keys = {meta, base .. ':hist'}
  for _, f in ipairs(redis.call('HKEYS', meta)) do
    if string.sub(f, 1, 3) == 'ns:' then keys[#keys + 1] = base .. ':st:' .. string.sub(f, 4) end
  end
  return keys
end
local function expire_room(meta, ttl)
  for _, k in ipairs(room_keys(meta)) do redis.call('PEXPIRE', k, ttl) end
end
local function persist_room(meta)
  for _, k in ipairs(room_keys(meta)) do redis.call('PERSIST', k) end
end
`

// commitScript applies one core.Commit.
//
// KEYS: 1 meta, 2 hist, 3 channel, 4 dedupe key (or meta when unused),
// 5 state hash of the namespace (or meta when unused), 6 members,
// 7 refusal key (or meta when unused).
// ARGV: 1 dedupe? (0/1), 2 dedupe TTL ms, 3 check version? (0/1),
// 4 expected version, 5 history limit, 6 history age ms, 7 publish command
// (PUBLISH or SPUBLISH), 8 #ops, 9 #durable, 10 #ephemeral, 11 a fresh
// epoch, 12 WAIT follows (0/1), 13 idle room TTL ms, then per op
// (set|del|clear, key, value), then the durable event JSONs, then the
// ephemeral event JSONs.
//
// A commit that writes to a room with no members (a leave hook after the
// last leave, a system message) sets the room's keys to expire after the
// idle TTL from now (see roomTTL); a room with members keeps them.
// Returns {status, first seq, last seq, epoch, version before, version
// after}: status 0 applied, 1 duplicate (first is the original's), 2
// version conflict (versions: the room's, twice), 3 refused before (a
// seventh element: the refusal's JSON; see core.ErrRefusedBefore).
//
// The room's epoch lives in meta with its seq. A meta without one (a new
// room, or data lost since) takes the fresh epoch ARGV[11] when the
// commit writes. Messages are "<seq> <epoch> <event JSON>" ("0 - <JSON>"
// for ephemeral events), so every node sees which sequence a seq is of.
var commitScript = goredis.NewScript(nowMS + roomTTL + `
local meta = redis.call('HMGET', KEYS[1], 'seq', 'ver', 'epoch')
local seq = tonumber(meta[1]) or 0
local ver = tonumber(meta[2]) or 0
local epoch = meta[3] or ARGV[11]
if ARGV[1] == '1' then
  -- One MGET for the id and the refusal (a key unused is meta, a hash:
  -- MGET reads it as nil).
  local found = redis.call('MGET', KEYS[4], KEYS[7])
  local d, r = found[1], found[2]
  if d then
    if ARGV[12] == '1' then
      -- A write, so that the WAIT after this script covers the original
      -- commit too (WAIT waits for this connection's last write): a retry
      -- is acknowledged only once the replicas have what it repeats.
      redis.call('SET', KEYS[4], d, 'KEEPTTL')
    end
    return {1, tonumber(d), seq, epoch, ver, ver}
  end
  if r then
    return {3, 0, seq, epoch, ver, ver, r}
  end
end
if ARGV[3] == '1' and tonumber(ARGV[4]) ~= ver then
  return {2, 0, seq, epoch, ver, ver}
end
local nops, ndur, neph = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local i = 14
-- The ops in order, a run of sets as one HSET (a chat message's ring slot
-- and counter are one command, not two), at most 256 pairs per HSET so
-- unpack stays far inside Lua's stack limit whatever a Go handler returns.
local sets = {}
local function flush_sets()
  if #sets > 0 then
    redis.call('HSET', KEYS[5], unpack(sets))
    sets = {}
  end
end
for _ = 1, nops do
  local op = ARGV[i]
  if op == 'set' then
    sets[#sets + 1] = ARGV[i + 1]
    sets[#sets + 1] = ARGV[i + 2]
    if #sets >= 512 then flush_sets() end
  else
    flush_sets()
    if op == 'del' then
      redis.call('HDEL', KEYS[5], ARGV[i + 1])
    else
      redis.call('DEL', KEYS[5])
    end
  end
  i = i + 3
end
flush_sets()
local first = 0
if ndur > 0 then
  for _ = 1, ndur do
    seq = seq + 1
    if first == 0 then first = seq end
    local s = string.format('%d', seq)
    redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[5], '*', 's', s, 'e', ARGV[i])
    redis.call(ARGV[7], KEYS[3], s .. ' ' .. epoch .. ' ' .. ARGV[i])
    i = i + 1
  end
  -- Age trim on every 16th seq only (reads trim too, so History never
  -- returns an event past history_age): TIME and XTRIM on each commit
  -- were two of its fourteen commands.
  if math.floor(seq / 16) > math.floor((first - 1) / 16) then
    local cutoff = now_ms() - tonumber(ARGV[6])
    if cutoff > 0 then
      redis.call('XTRIM', KEYS[2], 'MINID', string.format('%d', cutoff))
    end
  end
end
for _ = 1, neph do
  redis.call(ARGV[7], KEYS[3], '0 - ' .. ARGV[i])
  i = i + 1
end
if nops > 0 then
  local ns = string.sub(KEYS[5], #KEYS[1])
  redis.call('HSET', KEYS[1], 'seq', string.format('%d', seq), 'ver', string.format('%d', ver + 1), 'epoch', epoch, 'ns:' .. ns, '1')
elseif ndur > 0 then
  redis.call('HSET', KEYS[1], 'seq', string.format('%d', seq), 'ver', string.format('%d', ver + 1), 'epoch', epoch)
end
if (nops > 0 or ndur > 0) and redis.call('EXISTS', KEYS[6]) == 0 then
  expire_room(KEYS[1], ARGV[13])
end
if ARGV[1] == '1' then
  redis.call('SET', KEYS[4], string.format('%d', first), 'PX', ARGV[2])
end
local after = ver
if nops > 0 or ndur > 0 then after = ver + 1 end
return {0, first, seq, epoch, ver, after}
`)

// historyScript returns the durable events after a seq.
//
// KEYS: 1 meta, 2 hist. ARGV: 1 since, 2 history age ms.
// Returns {last seq, complete (0/1), epoch (empty if none), seq1, json1, seq2,
// json2, ...}.
// The stream holds the room's most recent events with consecutive seqs
// (it is only ever trimmed from its head), so its length tells how far back
// it reaches; the caller still checks the seqs it gets.
var historyScript = goredis.NewScript(nowMS + `
local m = redis.call('HMGET', KEYS[1], 'seq', 'epoch')
local seq = tonumber(m[1]) or 0
local epoch = m[2] or ''
local since = tonumber(ARGV[1])
if since >= seq then
  if since == seq then return {seq, 1, epoch} end
  return {seq, 0, epoch}
end
local cutoff = now_ms() - tonumber(ARGV[2])
if cutoff > 0 then
  redis.call('XTRIM', KEYS[2], 'MINID', string.format('%d', cutoff))
end
local n = redis.call('XLEN', KEYS[2])
if since + 1 < seq - n + 1 then return {seq, 0, epoch} end
local rows = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', string.format('%d', seq - since))
local out = {seq, 1, epoch}
for j = #rows, 1, -1 do
  local f = rows[j][2]
  out[#out + 1] = f[2]
  out[#out + 1] = f[4]
end
return out
`)

// snapshotScript reads seq, version, epoch and namespace states at one
// instant and, when asked, a dedupe key's answer with them (the router
// reads both before calling a plugin: one round trip instead of two). A
// room without an epoch (new, or its data was lost) gets the fresh one in
// ARGV[1] now, so joined always names the sequence.
//
// KEYS: 1 meta, 2 members, 3 dedupe key (dd), 4 refusal key (dr), 5..
// state hashes. ARGV: 1 a fresh epoch, 2 look the dedupe key up? (0/1;
// KEYS 3 and 4 are meta, unread, when 0), 3 idle room TTL ms (a meta
// created here for a room with no members expires like an idle room's),
// 4 the version and 5 the epoch the caller holds states at ("" for none),
// 6.. per state hash: 1 when the caller holds it (see stateCache).
// Returns {seq, ver, epoch, dedupe status, dedupe value, {k, v, ...} or 0,
// ...}: status 0 unused, 1 committed (value: its first seq), 2 refused
// (value: the refusal JSON); a state is 0 ("unchanged") when the caller
// holds it at the room's version and epoch.
var snapshotScript = goredis.NewScript(`
local m = redis.call('HMGET', KEYS[1], 'seq', 'ver', 'epoch')
local epoch = m[3]
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'epoch', epoch)
  if redis.call('EXISTS', KEYS[2]) == 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
  end
end
local out = {tonumber(m[1]) or 0, tonumber(m[2]) or 0, epoch, 0, ''}
if ARGV[2] == '1' then
  local found = redis.call('MGET', KEYS[3], KEYS[4])
  if found[1] then
    out[4], out[5] = 1, found[1]
  elseif found[2] then
    out[4], out[5] = 2, found[2]
  end
end
local same = ARGV[4] ~= '' and tonumber(ARGV[4]) == (tonumber(m[2]) or 0) and ARGV[5] == epoch
for j = 5, #KEYS do
  if same and ARGV[j + 1] == '1' then
    out[#out + 1] = 0
  else
    out[#out + 1] = redis.call('HGETALL', KEYS[j])
  end
end
return out
`)

// rewriteScript rewrites a key with its value and TTL, so that a WAIT
// after it covers whatever wrote the key (WAIT waits for the connection's
// last write).
//
// KEYS: 1 the key. Returns 1, or 0 if the key is gone.
var rewriteScript = goredis.NewScript(`
local d = redis.call('GET', KEYS[1])
if not d then return 0 end
redis.call('SET', KEYS[1], d, 'KEEPTTL')
return 1
`)

// epochScript starts a new epoch for a room whose seq went back: a node
// saw seq ARGV[2] in epoch ARGV[1], and the room is still in that epoch
// with a lower seq (a failover to a replica that had not caught up). The
// room's events from here on are of the fresh epoch ARGV[3], so every node
// and client sees the change, and every node is told at once with the
// message "<seq> <epoch> mark". A room with no epoch gets ARGV[3] too.
//
// KEYS: 1 meta, 2 channel. ARGV: 1 epoch seen, 2 seq seen, 3 fresh epoch,
// 4 publish command. Returns {seq, epoch}.
var epochScript = goredis.NewScript(`
local m = redis.call('HMGET', KEYS[1], 'seq', 'epoch')
local seq = tonumber(m[1]) or 0
local epoch = m[2]
if (not epoch) or (epoch == ARGV[1] and seq < tonumber(ARGV[2])) then
  epoch = ARGV[3]
  redis.call('HSET', KEYS[1], 'epoch', epoch)
  redis.call(ARGV[4], KEYS[2], string.format('%d', seq) .. ' ' .. epoch .. ' mark')
end
return {seq, epoch}
`)

// joinConnScript records a room in a connection's room set.
//
// KEYS: 1 conn hash, 2 conn rooms. ARGV: 1 room.
// Returns nil when the connection is unknown, else {uid, user JSON}.
var joinConnScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('SADD', KEYS[2], ARGV[1])
return redis.call('HMGET', KEYS[1], 'uid', 'user')
`)

// joinRoomScript adds a member to a room; idempotent.
//
// KEYS: 1 members, 2 user counts, 3 meta. ARGV: 1 conn, 2 uid, 3 user
// JSON. Returns 1 when this is the user's first connection in the room.
// The first member of an idle room takes the expiry off its keys.
var joinRoomScript = goredis.NewScript(roomTTL + `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[3]) == 0 then return 0 end
if redis.call('HLEN', KEYS[1]) == 1 then persist_room(KEYS[3]) end
if redis.call('HINCRBY', KEYS[2], ARGV[2], 1) == 1 then return 1 end
return 0
`)

// leaveRoomScript removes a member from a room; idempotent.
//
// KEYS: 1 members, 2 user counts, 3 meta. ARGV: 1 conn, 2 idle room TTL
// ms. Returns {joined, last of user, room empty} (0/1 each). The last
// member's leave sets the room's keys to expire after the idle TTL.
var leaveRoomScript = goredis.NewScript(roomTTL + `
local u = redis.call('HGET', KEYS[1], ARGV[1])
if not u then return {0, 0, 0} end
redis.call('HDEL', KEYS[1], ARGV[1])
local uid = cjson.decode(u)['id']
local last = 0
if redis.call('HINCRBY', KEYS[2], uid, -1) <= 0 then
  redis.call('HDEL', KEYS[2], uid)
  last = 1
end
local empty = 0
if redis.call('HLEN', KEYS[1]) == 0 then
  empty = 1
  expire_room(KEYS[3], ARGV[2])
end
return {1, last, empty}
`)

// dropConnScript deletes a connection and returns the rooms it still
// listed (joins that raced with the removal).
//
// KEYS: 1 conn hash, 2 conn rooms.
var dropConnScript = goredis.NewScript(`
local rooms = redis.call('SMEMBERS', KEYS[2])
redis.call('DEL', KEYS[1], KEYS[2])
return rooms
`)

// touchScript sets connections' last-seen time to the server's clock.
//
// KEYS: 1 liveness zset. ARGV: 1 "XX" (refresh known ones only) or "ADD",
// 2.. conn ids.
var touchScript = goredis.NewScript(nowMS + `
local now = string.format('%d', now_ms())
for j = 2, #ARGV do
  if ARGV[1] == 'XX' then
    redis.call('ZADD', KEYS[1], 'XX', now, ARGV[j])
  else
    redis.call('ZADD', KEYS[1], now, ARGV[j])
  end
end
return #ARGV - 1
`)

// expiredScript lists connections not touched within the TTL.
//
// KEYS: 1 liveness zset. ARGV: 1 TTL ms, 2 limit.
var expiredScript = goredis.NewScript(nowMS + `
local max = '(' .. string.format('%d', now_ms() - tonumber(ARGV[1]))
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', max, 'LIMIT', 0, tonumber(ARGV[2]))
`)
