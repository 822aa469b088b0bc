// Unit tests of classgate.js against a fake WebSocket and a fake clock.
// Run: node --test adapters/web/static/classgate.test.mjs (Node ≥ 20).
// Nothing here sleeps: time only moves when a test calls clock.advance().

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Client,
  ClassgateError,
  Room,
  backoffDelay,
  FATAL_CLOSE_CODES,
  AUTH_ERROR_CODES,
  DEFAULTS,
  DEPLOYMENTS,
  deploymentOf,
} from './classgate.js';

/** A manual clock implementing the Timers option. */
class FakeClock {
  constructor() {
    this.now = 0;
    this.seq = 0;
    /** @type {Map<number, {at: number, fn: () => void}>} */
    this.timers = new Map();
    this.setTimeout = (fn, ms) => {
      const h = ++this.seq;
      this.timers.set(h, { at: this.now + ms, fn });
      return h;
    };
    this.clearTimeout = (h) => {
      this.timers.delete(h);
    };
  }
  /** Run every timer due within ms, in time order, then flush microtasks. */
  async advance(ms) {
    const end = this.now + ms;
    for (;;) {
      let next = null;
      for (const [h, t] of this.timers) {
        if (t.at <= end && (!next || t.at < next[1].at)) next = [h, t];
      }
      if (!next) break;
      this.timers.delete(next[0]);
      this.now = next[1].at;
      next[1].fn();
      await flush();
    }
    this.now = end;
    await flush();
  }
  /** Delays of the pending timers (for asserting on backoff). */
  pending() {
    return [...this.timers.values()].map((t) => t.at - this.now);
  }
}

const flush = () => new Promise((r) => setImmediate(r));

/** Fake WebSocket: records what the client writes; the test plays server. */
function fakeSocketClass() {
  const sockets = [];
  class FakeWS {
    constructor(url) {
      this.url = url;
      this.sent = [];
      this.closed = null;
      this.readyState = 0;
      sockets.push(this);
    }
    send(s) {
      if (this.readyState !== 1) throw new Error('not open');
      this.sent.push(JSON.parse(s));
    }
    close(code, reason) {
      this.closed = { code, reason };
      this.readyState = 3;
    }
    // --- server side
    open() {
      this.readyState = 1;
      this.onopen?.({});
    }
    recv(frame) {
      this.onmessage?.({ data: JSON.stringify(frame) });
    }
    serverClose(code, reason = '') {
      this.readyState = 3;
      this.onclose?.({ code, reason });
    }
    /** Frames of a type the client sent. */
    frames(type) {
      return this.sent.filter((f) => f.type === type);
    }
    lastJoin(room) {
      return this.sent.filter((f) => f.type === 'join' && f.room === room).at(-1);
    }
  }
  return { FakeWS, sockets };
}

function setup(extra = {}) {
  const clock = new FakeClock();
  const { FakeWS, sockets } = fakeSocketClass();
  const states = [];
  const client = new Client({
    url: 'ws://gw.test/ws',
    token: 'T0K',
    WebSocket: FakeWS,
    timers: clock,
    random: () => 0.5,
    idPrefix: 'x',
    authCheck: false,
    // Tests that let time pass before opening a socket or answering a ping
    // ask for these explicitly.
    connectTimeout: 3600000,
    pingInterval: 3600000,
    ...extra,
  });
  client.on('state', (s) => states.push(s));
  const events = [];
  client.on('message', (f) => events.push(f));
  return { clock, sockets, client, states, events, FakeWS };
}

/** Connect, open and join room r1 at seq; returns the socket. */
async function joined(env, room = 'r1', seq = 0) {
  env.client.connect();
  await flush();
  const ws = env.sockets.at(-1);
  ws.open();
  const p = env.client.join(room);
  const j = ws.lastJoin(room);
  ws.recv({ type: 'joined', room, id: j.id, seq, user: { id: 'u1', name: 'Ann', role: 'teacher' } });
  await p;
  return ws;
}

const ev = (room, seq, text = `m${seq}`) => ({
  type: 'chat.message',
  room,
  seq,
  ts: 1,
  from: { id: 'u2' },
  data: { text },
});

test('connects with the token in the query string', async () => {
  const env = setup({ url: 'wss://abc.execute-api.test/prod?x=1', token: async () => 'a b' });
  env.client.connect();
  await flush();
  assert.equal(env.sockets[0].url, 'wss://abc.execute-api.test/prod?x=1&token=a%20b');
  assert.deepEqual(env.states.map((s) => s.state), ['connecting']);
  env.sockets[0].open();
  assert.equal(env.client.state, 'open');
});

test('a fresh join has no since; joined sets user and lastSeq', async () => {
  const env = setup();
  const ws = await joined(env, 'r1', 41);
  assert.equal(ws.lastJoin('r1').since, undefined);
  assert.equal(env.client.lastSeq('r1'), 41);
  assert.equal(env.client.user.name, 'Ann');
});

test('joins several rooms and keeps their seqs apart', async () => {
  const env = setup();
  const ws = await joined(env, 'r1', 5);
  const p = env.client.join('r2');
  ws.recv({ type: 'joined', room: 'r2', id: ws.lastJoin('r2').id, seq: 100 });
  await p;
  ws.recv(ev('r1', 6));
  ws.recv(ev('r2', 101));
  assert.deepEqual(env.events.map((e) => [e.room, e.seq]), [['r1', 6], ['r2', 101]]);
  assert.deepEqual(env.client.roomNames(), ['r1', 'r2']);
});

test('drops duplicates and delivers in order', async () => {
  const env = setup();
  const ws = await joined(env, 'r1', 10);
  const typed = [];
  env.client.on('chat.message', (f) => typed.push(f.seq));
  ws.recv(ev('r1', 9));
  ws.recv(ev('r1', 10));
  ws.recv(ev('r1', 11));
  ws.recv(ev('r1', 11));
  ws.recv(ev('r1', 12));
  assert.deepEqual(env.events.map((e) => e.seq), [11, 12]);
  assert.deepEqual(typed, [11, 12]);
  assert.equal(env.client.lastSeq('r1'), 12);
});

test('ephemeral events pass through untouched', async () => {
  const env = setup();
  const ws = await joined(env, 'r1', 3);
  ws.recv({ type: 'whiteboard.cursor', room: 'r1', from: { id: 'u2' }, data: { x: 1, y: 2 } });
  ws.recv({ type: 'whiteboard.cursor', room: 'r1', from: { id: 'u2' }, data: { x: 1, y: 2 } });
  ws.recv({ type: 'chat.history', room: 'r1', data: { messages: [] } });
  assert.equal(env.events.length, 3);
  assert.equal(env.client.lastSeq('r1'), 3);
});

test('a gap is not delivered; the client re-joins with since and the replay fills it', async () => {
  const env = setup();
  const ws = await joined(env, 'r1', 10);
  ws.recv(ev('r1', 11));
  ws.recv(ev('r1', 14)); // 12 and 13 missing
  assert.deepEqual(env.events.map((e) => e.seq), [11]);
  // The client first waits gapWait (1 s) for the missing events…
  await env.clock.advance(999);
  assert.equal(ws.frames('join').length, 1);
  // …then re-joins with since = the last seq delivered.
  await env.clock.advance(1);
  const j = ws.lastJoin('r1');
  assert.equal(ws.frames('join').length, 2);
  assert.equal(j.since, 11);
  // More events while the re-join is in flight: no second join.
  ws.recv(ev('r1', 15));
  assert.equal(ws.frames('join').length, 2);
  ws.recv({ type: 'joined', room: 'r1', id: j.id, seq: 15 });
  for (const s of [12, 13, 14, 15]) ws.recv(ev('r1', s));
  ws.recv(ev('r1', 16));
  assert.deepEqual(env.events.map((e) => e.seq), [11, 12, 13, 14, 15, 16]);
  assert.equal(env.client.lastSeq('r1'), 16);
});

test('events out of order within gapWait are reordered without a re-join', async () => {
  const env = setup();
  const ws = await joined(env, 'r1', 10);
  ws.recv(ev('r1', 13));
  ws.recv(ev('r1', 11));
  ws.recv(ev('r1', 12));
  ws.recv(ev('r1', 12)); // duplicate of a held/delivered one
  assert.deepEqual(env.events.map((e) => e.seq), [11, 12, 13]);
  await env.clock.advance(5000);
  assert.equal(ws.frames('join').length, 1, 'no re-join');
  assert.equal(env.client.lastSeq('r1'), 13);
});

test('with gapWait 0 a gap re-joins at once', async () => {
  const env = setup({ gapWait: 0 });
  const ws = await joined(env, 'r1', 10);
  ws.recv(ev('r1', 12));
  assert.equal(ws.lastJoin('r1').since, 10);
  // The replay brings 11; the held 12 is then delivered (or replayed again).
  ws.recv({ type: 'joined', room: 'r1', id: ws.lastJoin('r1').id, seq: 12 });
  ws.recv(ev('r1', 11));
  ws.recv(ev('r1', 12));
  assert.deepEqual(env.events.map((e) => e.seq), [11, 12]);
});

test('held events are dropped on disconnect; the re-join replays them', async () => {
  const env = setup();
  const ws = await joined(env, 'r1', 10);
  ws.recv(ev('r1', 12));
  ws.serverClose(1006);
  await env.clock.advance(60000);
  const ws2 = env.sockets[1];
  ws2.open();
  assert.equal(ws2.lastJoin('r1').since, 10);
  ws2.recv({ type: 'joined', room: 'r1', id: ws2.lastJoin('r1').id, seq: 12 });
  ws2.recv(ev('r1', 11));
  ws2.recv(ev('r1', 12));
  assert.deepEqual(env.events.map((e) => e.seq), [11, 12]);
});

test('reconnects with jittered exponential backoff and re-joins with since', async () => {
  const env = setup({ backoff: { initial: 100, max: 1000, factor: 2, jitter: 0.5 } });
  const ws = await joined(env, 'r1', 7);
  ws.recv(ev('r1', 8));
  ws.serverClose(1012, 'restarting');
  assert.equal(env.client.state, 'reconnecting');
  let rec = env.states.filter((s) => s.state === 'reconnecting');
  assert.deepEqual(rec.map((s) => [s.code, s.attempt, s.delay]), [[1012, 1, 75]]);

  // The first retry fails (server still down): the delay doubles.
  await env.clock.advance(75);
  assert.equal(env.sockets.length, 2);
  env.sockets[1].serverClose(1006);
  await env.clock.advance(149);
  assert.equal(env.sockets.length, 2, 'no dial before the delay');
  await env.clock.advance(1);
  assert.equal(env.sockets.length, 3);
  rec = env.states.filter((s) => s.state === 'reconnecting');
  assert.deepEqual(rec.map((s) => s.delay), [75, 150]);

  const ws3 = env.sockets[2];
  ws3.open();
  const j = ws3.lastJoin('r1');
  assert.equal(j.since, 8);
  ws3.recv({ type: 'joined', room: 'r1', id: j.id, seq: 10 });
  ws3.recv(ev('r1', 8)); // overlap: dropped
  ws3.recv(ev('r1', 9));
  ws3.recv(ev('r1', 10));
  assert.deepEqual(env.events.map((e) => e.seq), [8, 9, 10]);
  assert.deepEqual(
    env.states.map((s) => s.state),
    ['connecting', 'open', 'reconnecting', 'reconnecting', 'open', 'resynced'],
  );
  // A successful open resets the backoff.
  ws3.serverClose(4008, 'slow consumer');
  assert.equal(env.states.at(-1).delay, 75);
});

test('backoff is capped and jitter stays within bounds', () => {
  const o = { initial: 500, max: 30000, factor: 2, jitter: 0.5 };
  assert.equal(backoffDelay(0, o, () => 0), 250);
  assert.equal(backoffDelay(0, o, () => 0.999999), 500);
  assert.equal(backoffDelay(20, o, () => 1), 30000);
  assert.equal(backoffDelay(20, o, () => 0), 15000);
});

test('fatal close codes stop the client with an auth error; pending sends wait', async () => {
  for (const code of FATAL_CLOSE_CODES) {
    const env = setup();
    const errors = [];
    env.client.on('error', (e) => errors.push(e));
    const ws = await joined(env, 'r1', 1);
    let settled = false;
    env.client.send('chat.send', 'r1', { text: 'x' }).finally(() => (settled = true));
    ws.serverClose(code, 'bye');
    assert.equal(env.client.state, 'closed');
    const want = AUTH_ERROR_CODES[code];
    assert.ok(want, `a reason for ${code}`);
    assert.deepEqual(env.states.at(-1), { state: 'closed', code, reason: want, auth: true });
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof ClassgateError && errors[0].code === want);
    await env.clock.advance(120000);
    assert.equal(env.sockets.length, 1, `no reconnect after ${code}`);
    assert.equal(settled, false, 'the send is neither failed nor lost');
    assert.equal(env.client.pendingCount(), 1);
  }
});

test('a send pending at a 4001 is sent again with its id after connect()', async () => {
  let token = 'old';
  const env = setup({ token: () => token });
  const ws = await joined(env, 'r1', 4);
  const p = env.client.send('chat.send', 'r1', { text: 'kept' });
  const [f] = ws.frames('chat.send');
  ws.serverClose(4001, 'token expired');
  token = 'new';
  env.client.connect();
  await flush();
  const ws2 = env.sockets[1];
  ws2.open();
  ws2.recv({ type: 'joined', room: 'r1', id: ws2.lastJoin('r1').id, seq: 5 });
  assert.deepEqual(ws2.frames('chat.send').map((x) => x.id), [f.id]);
  ws2.recv({ type: 'ack', id: f.id, seq: 5 });
  assert.deepEqual(await p, { id: f.id, seq: 5 });
});

test('a handshake refused with 401 stops retrying and reports unauthorized', async () => {
  const probes = [];
  let verdict = 'unknown';
  const env = setup({
    authCheck: async (u) => {
      probes.push(u);
      return verdict;
    },
  });
  const errors = [];
  env.client.on('error', (e) => errors.push(e));
  env.client.connect();
  await flush();
  // A network failure before open: probed, unknown, so the client retries.
  env.sockets[0].serverClose(1006);
  await flush();
  assert.deepEqual(probes, ['http://gw.test/ws?token=T0K']);
  assert.equal(env.client.state, 'reconnecting');
  await env.clock.advance(1000);
  assert.equal(env.sockets.length, 2);
  verdict = 'refused';
  env.sockets[1].serverClose(1006);
  await flush();
  assert.equal(env.client.state, 'closed');
  assert.deepEqual(env.states.at(-1), { state: 'closed', code: 1006, reason: 'unauthorized', auth: true });
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, 'unauthorized');
  await env.clock.advance(120000);
  assert.equal(env.sockets.length, 2, 'no retry after a refused token');
});

test('a connection that opened once is not probed when it closes', async () => {
  const probes = [];
  const env = setup({ authCheck: async (u) => (probes.push(u), 'refused') });
  const ws = await joined(env, 'r1', 0);
  ws.serverClose(1012);
  await flush();
  assert.deepEqual(probes, []);
  assert.equal(env.client.state, 'reconnecting');
});

test('a handshake that hangs is abandoned after connectTimeout and retried', async () => {
  const env = setup({ connectTimeout: 5000 });
  env.client.connect();
  await flush();
  await env.clock.advance(5000);
  assert.equal(env.sockets[0].closed?.code, 4000);
  assert.equal(env.client.state, 'reconnecting');
  await env.clock.advance(1000);
  assert.equal(env.sockets.length, 2);
});

test('a token function is called again before the token expires', async () => {
  const exp = (s) => 'h.' + Buffer.from(JSON.stringify({ exp: s })).toString('base64url') + '.sig';
  let token = exp(1000); // expires at t = 1000 s
  const env = setup({ token: () => token, refreshBefore: 60000, now: () => env.clock.now });
  const ws = await joined(env, 'r1', 2);
  token = exp(5000);
  await env.clock.advance(939000);
  assert.equal(env.sockets.length, 1, 'not yet');
  await env.clock.advance(1000); // 60 s before exp
  assert.deepEqual(ws.closed, { code: 1000, reason: 'token refresh' });
  await env.clock.advance(1);
  const ws2 = env.sockets[1];
  assert.ok(ws2.url.endsWith(encodeURIComponent(token)));
  ws2.open();
  assert.equal(ws2.lastJoin('r1').since, 2);
});

test('after 4001 connect() resumes with a new token and since', async () => {
  let token = 'old';
  const env = setup({ token: () => token });
  const ws = await joined(env, 'r1', 4);
  ws.serverClose(4001, 'token expired');
  token = 'new';
  env.client.connect();
  await flush();
  const ws2 = env.sockets[1];
  assert.match(ws2.url, /token=new$/);
  ws2.open();
  assert.equal(ws2.lastJoin('r1').since, 4);
});

test('send resolves on ack with seq, rejects on error and, when asked, on timeout', async () => {
  const env = setup({ sendTimeout: 5000 });
  const ws = await joined(env, 'r1', 0);
  const a = env.client.send('chat.send', 'r1', { text: 'hi' });
  const b = env.client.send('whiteboard.clear', 'r1', {});
  const c = env.client.send('chat.send', 'r1', { text: 'lost' });
  const [fa, fb, fc] = ws.sent.slice(-3);
  assert.deepEqual(fa, { type: 'chat.send', room: 'r1', id: fa.id, data: { text: 'hi' } });
  assert.equal(new Set([fa.id, fb.id, fc.id]).size, 3);
  const bRejected = assert.rejects(b, (e) => e.code === 'rejected' && e.detail === 'teachers only');
  const cTimedOut = assert.rejects(c, (e) => e.code === 'timeout');
  ws.recv({ type: 'ack', id: fa.id, seq: 1 });
  ws.recv({ type: 'error', id: fb.id, code: 'rejected', message: 'teachers only' });
  assert.deepEqual(await a, { id: fa.id, seq: 1 });
  await bRejected;
  await env.clock.advance(5000);
  await cTimedOut;
  assert.equal(env.client.pendingCount(), 0);
  // A late ack after the timeout is ignored.
  ws.recv({ type: 'ack', id: fc.id, seq: 2 });
});

test('a send answered rate_limited or internal is sent again with the same id after a backoff, until answered', async () => {
  const env = setup();
  const ws = await joined(env, 'r1', 0);
  const a = env.client.send('chat.send', 'r1', { text: 'hi' });
  const b = env.client.send('whiteboard.clear', 'r1', {});
  const [fa, fb] = ws.sent.slice(-2);
  ws.recv({ type: 'error', id: fa.id, code: 'rate_limited', message: 'the server is behind on this connection\'s frames; retry later' });
  ws.recv({ type: 'error', id: fb.id, code: 'rejected', message: 'teachers only' });
  await assert.rejects(b, (e) => e.code === 'rejected');
  assert.equal(ws.frames('chat.send').length, 1, 'not sent again at once');
  assert.equal(env.client.pendingCount(), 1, 'still waiting');
  await env.clock.advance(DEFAULTS.sendRetryDelay); // jitter: within [0.5, 1] × the delay
  let sent = ws.frames('chat.send');
  assert.equal(sent.length, 2);
  assert.deepEqual(sent[1], fa, 'the same frame, same id');
  ws.recv({ type: 'error', id: fa.id, code: 'internal', message: 'temporarily unavailable, retry' });
  await env.clock.advance(DEFAULTS.sendRetryDelay);
  await env.clock.advance(DEFAULTS.sendRetryDelay); // the second delay is doubled
  sent = ws.frames('chat.send');
  assert.equal(sent.length, 3);
  assert.equal(sent[2].id, fa.id);
  ws.recv({ type: 'ack', id: fa.id, seq: 1 });
  assert.deepEqual(await a, { id: fa.id, seq: 1 });
  assert.equal(env.client.pendingCount(), 0);
  await env.clock.advance(60000);
  assert.equal(ws.frames('chat.send').length, 3, 'nothing more once answered');
});

test('with sendRetryDelay 0 a send answered rate_limited rejects with it', async () => {
  const env = setup({ sendRetryDelay: 0 });
  const ws = await joined(env, 'r1', 0);
  const a = env.client.send('chat.send', 'r1', { text: 'hi' });
  const [fa] = ws.frames('chat.send');
  ws.recv({ type: 'error', id: fa.id, code: 'rate_limited', message: 'too many frames; slow down' });
  await assert.rejects(a, (e) => e.code === 'rate_limited');
  assert.equal(env.client.pendingCount(), 0);
});

test('close() while a send waits for its retry rejects it and sends nothing more', async () => {
  const env = setup();
  const ws = await joined(env, 'r1', 0);
  const a = env.client.send('chat.send', 'r1', { text: 'hi' });
  const [fa] = ws.frames('chat.send');
  ws.recv({ type: 'error', id: fa.id, code: 'rate_limited', message: 'busy' });
  env.client.close();
  await assert.rejects(a, (e) => e.code === 'closed');
  await env.clock.advance(10 * DEFAULTS.sendRetryDelay);
  assert.equal(ws.frames('chat.send').length, 1);
});

test('unacked sends are re-sent with the same id after the room is re-joined', async () => {
  const env = setup();
  const ws = await joined(env, 'r1', 3);
  const p1 = env.client.send('chat.send', 'r1', { text: 'one' });
  const p2 = env.client.send('chat.send', 'r1', { text: 'two' });
  const [f1, f2] = ws.frames('chat.send');
  ws.recv({ type: 'ack', id: f1.id, seq: 4 });
  assert.deepEqual(await p1, { id: f1.id, seq: 4 });
  ws.serverClose(1006);
  // Sent while disconnected: queued.
  const p3 = env.client.send('chat.send', 'r1', { text: 'three' });
  await env.clock.advance(10000);
  const ws2 = env.sockets[1];
  ws2.open();
  assert.deepEqual(ws2.frames('chat.send'), [], 'nothing before the room is re-joined');
  ws2.recv({ type: 'joined', room: 'r1', id: ws2.lastJoin('r1').id, seq: 5 });
  const resent = ws2.frames('chat.send');
  assert.equal(resent.length, 2);
  assert.equal(resent[0].id, f2.id);
  assert.deepEqual(resent[0].data, { text: 'two' });
  assert.deepEqual(resent[1].data, { text: 'three' });
  // The server already had "two" (seq 5): it answers with the original seq.
  ws2.recv({ type: 'ack', id: f2.id, seq: 5 });
  ws2.recv({ type: 'ack', id: resent[1].id, seq: 6 });
  assert.deepEqual(await p2, { id: f2.id, seq: 5 });
  assert.equal((await p3).seq, 6);
});

test('sends wait for the first join', async () => {
  const env = setup();
  env.client.connect();
  await flush();
  const ws = env.sockets[0];
  const joinP = env.client.join('r1');
  const p = env.client.send('chat.send', 'r1', { text: 'early' });
  ws.open();
  assert.deepEqual(ws.sent.map((f) => f.type), ['join']);
  ws.recv({ type: 'joined', room: 'r1', id: ws.lastJoin('r1').id, seq: 0 });
  await joinP;
  assert.deepEqual(ws.sent.map((f) => f.type), ['join', 'chat.send']);
  ws.recv({ type: 'ack', id: ws.sent[1].id, seq: 1 });
  assert.equal((await p).seq, 1);
});

test('send to a room not joined is refused locally', async () => {
  const env = setup();
  await joined(env, 'r1', 0);
  await assert.rejects(env.client.send('chat.send', 'nope', {}), (e) => e.code === 'not_joined');
});

test('notify writes without id and only when the room is ready', async () => {
  const env = setup();
  env.client.connect();
  await flush();
  const ws = env.sockets[0];
  ws.open();
  env.client.join('r1');
  assert.equal(env.client.notify('whiteboard.cursor', 'r1', { x: 1, y: 1 }), false);
  ws.recv({ type: 'joined', room: 'r1', id: ws.lastJoin('r1').id, seq: 0 });
  assert.equal(env.client.notify('whiteboard.cursor', 'r1', { x: 1, y: 1 }), true);
  assert.deepEqual(ws.sent.at(-1), { type: 'whiteboard.cursor', room: 'r1', data: { x: 1, y: 1 } });
});

test('a refused join rejects and forgets the room', async () => {
  const env = setup();
  await joined(env, 'r1', 0);
  const ws = env.sockets[0];
  const p = env.client.join('secret');
  ws.recv({ type: 'error', id: ws.lastJoin('secret').id, code: 'forbidden', message: 'no' });
  await assert.rejects(p, (e) => e.code === 'forbidden');
  assert.deepEqual(env.client.roomNames(), ['r1']);
});

test('resync resets lastSeq and emits resync', async () => {
  const env = setup();
  const ws = await joined(env, 'r1', 3);
  ws.serverClose(1012);
  await env.clock.advance(60000);
  const ws2 = env.sockets[1];
  ws2.open();
  const resyncs = [];
  env.client.on('resync', (r) => resyncs.push(r));
  ws2.recv({ type: 'joined', room: 'r1', id: ws2.lastJoin('r1').id, seq: 900 });
  ws2.recv({ type: 'resync', room: 'r1', seq: 900 });
  ws2.recv(ev('r1', 901));
  assert.deepEqual(resyncs, [{ room: 'r1', seq: 900, reason: 'history' }]);
  assert.deepEqual(env.events.map((e) => e.seq), [901]);
});

test('a re-join sends the epoch of the last joined or resync with since', async () => {
  const env = setup();
  env.client.connect();
  await flush();
  const ws = env.sockets[0];
  ws.open();
  const p = env.client.join('r1');
  ws.recv({ type: 'joined', room: 'r1', id: ws.lastJoin('r1').id, seq: 4, epoch: 'e1' });
  await p;
  ws.recv(ev('r1', 5));
  ws.serverClose(1012);
  await env.clock.advance(60000);
  const ws2 = env.sockets[1];
  ws2.open();
  const j = ws2.lastJoin('r1');
  assert.equal(j.since, 5);
  assert.equal(j.epoch, 'e1');
});

test('a resync outside a join re-joins without since, then resumes in the new epoch', async () => {
  const env = setup();
  env.client.connect();
  await flush();
  const ws = env.sockets[0];
  ws.open();
  const p = env.client.join('r1');
  ws.recv({ type: 'joined', room: 'r1', id: ws.lastJoin('r1').id, seq: 15, epoch: 'e1' });
  await p;
  const resyncs = [];
  env.client.on('resync', (r) => resyncs.push(r));
  // The store restarted empty: seqs start again at 1 in epoch e2.
  ws.recv({ type: 'resync', room: 'r1', seq: 0, epoch: 'e2' });
  assert.deepEqual(resyncs, [{ room: 'r1', seq: 0, reason: 'reset' }]);
  const fresh = ws.lastJoin('r1');
  assert.equal(fresh.since, undefined);
  assert.equal(fresh.epoch, undefined);
  ws.recv(ev('r1', 1)); // not taken for a copy of the old seq 1
  assert.deepEqual(env.events.map((e) => e.seq), [1]);
  ws.recv({ type: 'joined', room: 'r1', id: fresh.id, seq: 1, epoch: 'e2' });
  ws.recv(ev('r1', 2));
  assert.deepEqual(env.events.map((e) => e.seq), [1, 2]);
  ws.serverClose(1012);
  await env.clock.advance(60000);
  const ws2 = env.sockets[1];
  ws2.open();
  const j = ws2.lastJoin('r1');
  assert.equal(j.since, 2);
  assert.equal(j.epoch, 'e2');
});

test('a resume into a new epoch (a restarted store) reports one reset, not a history resync too', async () => {
  const env = setup();
  const ws = await joined(env, 'r1', 0);
  env.client.rooms.get('r1').epoch = 'e1';
  for (let i = 1; i <= 7; i++) ws.recv(ev('r1', i));
  ws.serverClose(1006);
  await env.clock.advance(1000);
  const ws2 = env.sockets[1];
  ws2.open();
  const resyncs = [];
  env.client.on('resync', (r) => resyncs.push(r));
  assert.equal(ws2.lastJoin('r1').epoch, 'e1');
  ws2.recv({ type: 'joined', room: 'r1', id: ws2.lastJoin('r1').id, seq: 9, epoch: 'e2' });
  ws2.recv({ type: 'resync', room: 'r1', seq: 9, epoch: 'e2' });
  ws2.recv(ev('r1', 10));
  assert.deepEqual(resyncs, [{ room: 'r1', seq: 9, reason: 'reset' }]);
  assert.deepEqual(env.events.map((e) => e.seq), [1, 2, 3, 4, 5, 6, 7, 10]);
  assert.equal(ws2.frames('join').length, 1, 'no second join');
});

test('a resync answering a join (same epoch as joined) does not re-join', async () => {
  const env = setup();
  env.client.connect();
  await flush();
  const ws = env.sockets[0];
  ws.open();
  const p = env.client.join('r1');
  ws.recv({ type: 'joined', room: 'r1', id: ws.lastJoin('r1').id, seq: 900, epoch: 'e1' });
  ws.recv({ type: 'resync', room: 'r1', seq: 900, epoch: 'e1' });
  await p;
  assert.equal(ws.frames('join').length, 1);
});

test('a room whose history restarted (joined.seq < since) is resynced', async () => {
  const env = setup();
  const ws = await joined(env, 'r1', 50);
  ws.serverClose(1012);
  await env.clock.advance(60000);
  const ws2 = env.sockets[1];
  ws2.open();
  const resyncs = [];
  env.client.on('resync', (r) => resyncs.push(r));
  ws2.recv({ type: 'joined', room: 'r1', id: ws2.lastJoin('r1').id, seq: 2 });
  ws2.recv(ev('r1', 3));
  assert.equal(resyncs.length, 1);
  assert.deepEqual(env.events.map((e) => e.seq), [3]);
});

test('pings when idle and replaces a connection that stops answering', async () => {
  const env = setup({ pingInterval: 60000, pongTimeout: 20000 });
  const ws = await joined(env, 'r1', 0);
  await env.clock.advance(60000);
  const [ping] = ws.frames('ping');
  assert.ok(ping.id);
  ws.recv({ type: 'pong', id: ping.id });
  // Traffic counts as life: no ping while frames arrive.
  await env.clock.advance(50000);
  ws.recv({ type: 'chat.typing', room: 'r1', data: {} });
  await env.clock.advance(50000);
  assert.equal(ws.frames('ping').length, 1);
  await env.clock.advance(10000);
  assert.equal(ws.frames('ping').length, 2);
  await env.clock.advance(20000); // no pong this time
  assert.deepEqual(ws.closed, { code: 4000, reason: 'pong timeout' });
  assert.equal(env.client.state, 'reconnecting');
  await env.clock.advance(1000);
  assert.equal(env.sockets.length, 2);
});

test('the default liveness settings notice a dead link within 30 s', async () => {
  assert.ok(DEFAULTS.pingInterval + DEFAULTS.pongTimeout <= 30000);
  const env = setup({ pingInterval: undefined, pongTimeout: undefined });
  const ws = await joined(env, 'r1', 0);
  await env.clock.advance(DEFAULTS.pingInterval + DEFAULTS.pongTimeout);
  assert.deepEqual(ws.closed, { code: 4000, reason: 'pong timeout' });
});

test('deploymentOf picks API Gateway by its host names or by name', () => {
  for (const [url, name, want] of [
    ['wss://abc123.execute-api.eu-west-1.amazonaws.com/prod', undefined, 'apigateway'],
    ['wss://ABC123.execute-api.cn-north-1.amazonaws.com.cn/prod', null, 'apigateway'],
    ['wss://classes.example.org/ws', undefined, 'standalone'],
    ['wss://abc.execute-api.eu-west-1.amazonaws.com.example.org/', '', 'standalone'],
    ['ws://127.0.0.1:8080/ws', undefined, 'standalone'],
    ['not a url', undefined, 'standalone'],
    ['wss://ws.school.example/prod', 'apigateway', 'apigateway'], // a custom domain
    ['wss://abc.execute-api.eu-west-1.amazonaws.com/prod', 'standalone', 'standalone'],
  ]) {
    assert.equal(deploymentOf(url, name), want, `${url} ${name}`);
  }
  assert.throws(() => deploymentOf('ws://x/ws', 'lambda'), (err) => err instanceof RangeError && /standalone or apigateway/.test(err.message));
});

test('DEPLOYMENTS: the defaults standalone; on API Gateway a ping within half its 10-minute idle timeout', () => {
  assert.deepEqual({ ...DEPLOYMENTS.standalone }, { pingInterval: DEFAULTS.pingInterval });
  assert.equal(DEPLOYMENTS.apigateway.pingInterval, 300000);
  assert.ok(DEPLOYMENTS.apigateway.pingInterval * 2 <= 600000);
  assert.ok(Object.isFrozen(DEPLOYMENTS) && Object.isFrozen(DEPLOYMENTS.apigateway));
});

test('with the API Gateway options a quiet room pings every 5 minutes and a listener notices a dead link within 310 s', async () => {
  const env = setup({ ...DEPLOYMENTS.apigateway, pongTimeout: undefined });
  const ws = await joined(env, 'r1', 0);
  await env.clock.advance(DEPLOYMENTS.apigateway.pingInterval - 1);
  assert.equal(ws.frames('ping').length, 0);
  await env.clock.advance(1);
  const [ping] = ws.frames('ping');
  ws.recv({ type: 'pong', id: ping.id });
  await env.clock.advance(DEPLOYMENTS.apigateway.pingInterval + DEFAULTS.pongTimeout - 1);
  assert.equal(ws.frames('ping').length, 2);
  assert.equal(ws.closed, null);
  await env.clock.advance(1); // no pong
  assert.deepEqual(ws.closed, { code: 4000, reason: 'pong timeout' });
});

test('a send, join or leave unanswered within pongTimeout replaces the link, without a ping', async () => {
  for (const [what, act, reason] of [
    ['send', (c) => c.send('chat.send', 'r1', { text: 'hi' }).catch(() => {}), 'no answer to send'],
    ['join', (c) => c.join('r2').catch(() => {}), 'no answer to join'],
    ['leave', (c) => c.leave('r1'), 'no answer to leave'],
  ]) {
    const env = setup({ ...DEPLOYMENTS.apigateway, pongTimeout: undefined });
    const ws = await joined(env, 'r1', 0);
    await env.clock.advance(60000);
    act(env.client);
    await flush();
    await env.clock.advance(DEFAULTS.pongTimeout - 1);
    assert.equal(ws.closed, null, what);
    await env.clock.advance(1);
    assert.deepEqual(ws.closed, { code: 4000, reason }, what);
    assert.equal(ws.frames('ping').length, 0, what);
  }
});

test('an answered send keeps the link', async () => {
  const env = setup({ ...DEPLOYMENTS.apigateway, pongTimeout: undefined });
  const ws = await joined(env, 'r1', 0);
  const p = env.client.send('chat.send', 'r1', { text: 'hi' });
  await flush();
  const [f] = ws.frames('chat.send');
  ws.recv({ type: 'ack', id: f.id, room: 'r1', seq: 1 });
  await p;
  await env.clock.advance(DEPLOYMENTS.apigateway.pingInterval - 1);
  assert.equal(ws.closed, null);
  assert.equal(ws.frames('ping').length, 0);
});

test('checkConnection pings now and drops a silent link', async () => {
  const env = setup();
  const ws = await joined(env, 'r1', 0);
  env.client.checkConnection(3000);
  assert.equal(ws.frames('ping').length, 1);
  await env.clock.advance(3000);
  assert.deepEqual(ws.closed, { code: 4000, reason: 'pong timeout' });
  // While waiting to reconnect, it reconnects at once.
  env.client.checkConnection();
  await flush();
  assert.equal(env.sockets.length, 2);
});

test('close() stops for good and rejects pending sends', async () => {
  const env = setup();
  const ws = await joined(env, 'r1', 0);
  const p = env.client.send('chat.send', 'r1', { text: 'x' });
  env.client.close();
  await assert.rejects(p, (e) => e.code === 'closed');
  assert.deepEqual(ws.closed, { code: 1000, reason: 'client closed' });
  assert.equal(env.client.state, 'closed');
  ws.serverClose(1000); // late close event of the old socket: ignored
  await env.clock.advance(120000);
  assert.equal(env.sockets.length, 1);
});

test('leave forgets the room and rejects its pending sends', async () => {
  const env = setup();
  const ws = await joined(env, 'r1', 0);
  const p = env.client.send('chat.send', 'r1', { text: 'x' });
  const l = env.client.leave('r1');
  const lf = ws.frames('leave')[0];
  ws.recv({ type: 'ack', id: lf.id });
  await l;
  await assert.rejects(p, (e) => e.code === 'left');
  ws.recv(ev('r1', 1)); // not tracked any more: passes through undeduped
  assert.deepEqual(env.client.roomNames(), []);
});

test('once fires for the next event only', async () => {
  const env = setup();
  const ws = await joined(env, 'r1', 0);
  const got = [];
  env.client.once('chat.message', (f) => got.push(f.seq));
  const off = env.client.once('chat.message', () => got.push('never'));
  off();
  ws.recv(ev('r1', 1));
  ws.recv(ev('r1', 2));
  assert.deepEqual(got, [1]);
});

test('off() removes a listener given to on() or once(), on the client and on a room', async () => {
  const env = setup();
  const ws = await joined(env, 'r1', 0);
  const room = env.client.room('r1');
  const got = [];
  const onFn = (f) => got.push(['on', f.seq]);
  const onceFn = (f) => got.push(['once', f.seq]);
  const roomOn = (f) => got.push(['room.on', f.seq]);
  const roomOnce = (f) => got.push(['room.once', f.seq]);
  const kept = (f) => got.push(['kept', f.seq]);
  env.client.on('chat.message', onFn);
  env.client.once('chat.message', onceFn);
  room.on('chat.message', roomOn);
  room.once('chat.message', roomOnce);
  room.once('chat.message', kept);
  env.client.off('chat.message', onFn);
  env.client.off('chat.message', onceFn);
  room.off('chat.message', roomOn);
  room.off('chat.message', roomOnce);
  ws.recv(ev('r1', 1));
  ws.recv(ev('r1', 2));
  assert.deepEqual(got, [['kept', 1]], 'only the listener not removed fired, once');
  // Removing a once listener after it fired, or one never added, is harmless.
  room.off('chat.message', kept);
  env.client.off('chat.message', () => {});
  env.client.off('nothing', onFn);
});

test('room() gives a subscription object with its own events and actions', async () => {
  const env = setup();
  env.client.connect();
  await flush();
  const ws = env.sockets[0];
  ws.open();
  const a = env.client.room('a');
  const b = env.client.room('b');
  assert.ok(a instanceof Room);
  assert.equal(env.client.room('a'), a, 'one object per room');
  ws.recv({ type: 'joined', room: 'a', id: ws.lastJoin('a').id, seq: 0 });
  ws.recv({ type: 'joined', room: 'b', id: ws.lastJoin('b').id, seq: 0 });
  assert.equal((await a.joined).room, 'a');
  const got = [];
  const fn = (f) => got.push(['a', f.seq]);
  a.on('chat.message', fn);
  b.on('chat.message', (f) => got.push(['b', f.seq]));
  let once = 0;
  a.once('message', () => once++);
  ws.recv(ev('a', 1));
  ws.recv(ev('b', 1));
  ws.recv(ev('a', 2));
  assert.deepEqual(got, [['a', 1], ['b', 1], ['a', 2]]);
  assert.equal(once, 1);
  assert.equal(a.lastSeq, 2);
  a.off('chat.message', fn);
  ws.recv(ev('a', 3));
  assert.equal(got.length, 3, 'off() stops the listener');
  const p = a.send('chat.send', { text: 'hi' });
  const [f] = ws.frames('chat.send');
  assert.equal(f.room, 'a');
  ws.recv({ type: 'ack', id: f.id, seq: 4 });
  assert.equal((await p).seq, 4);
  const left = a.leave();
  ws.recv({ type: 'ack', id: ws.frames('leave')[0].id });
  await left;
  assert.deepEqual(env.client.roomNames(), ['b']);
  assert.notEqual(env.client.room('a'), a, 'a new object after leave');
});

test('a throwing listener does not break delivery', async () => {
  const env = setup();
  const errors = [];
  env.client.on('error', (e) => errors.push(e));
  env.client.on('chat.message', () => {
    throw new Error('app bug');
  });
  const ws = await joined(env, 'r1', 0);
  ws.recv(ev('r1', 1));
  ws.recv(ev('r1', 2));
  assert.deepEqual(env.events.map((e) => e.seq), [1, 2]);
  assert.equal(errors.length, 2);
});

test('requires a WebSocket constructor', () => {
  assert.throws(() => new Client({ url: 'ws://x', token: 't', WebSocket: 42 }), /WebSocket/);
});
