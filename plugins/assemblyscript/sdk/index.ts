// The classgate plugin SDK for AssemblyScript: the guest side of plugin
// ABI version 1 (plugins/abi/ABI.md) behind the concepts of the Go SDK
// (plugins/sdk). A plugin registers a factory at top level; the factory
// builds its Handler from the plugin's configuration once per instance;
// the handler runs once per frame (Hook.Message), join (Hook.Join) and
// leave (Hook.Leave), reads the call (type, sender, data), reads and
// writes the room state, and emits events, replies, rejections and
// refusals through the Call. See README.md for a complete plugin.
//
// The entry file of a plugin must also re-export the ABI's exports:
//
//   export * from "../sdk/exports";

import {
  hostLog,
  hostStateGet,
  hostStateList,
  hostStateSet,
  hostStateDel,
  hostStateClear,
  hostEmit,
  hostReject,
  hostForbid,
  hostJSONFind,
  RESULT_NOT_FOUND,
  RESULT_LIMIT,
  RESULT_DENIED,
  EMIT_DURABLE,
  EMIT_REPLY,
} from "./abi";
import { Buf, Obj, Kind, kindOf, parseObject, elements, unquote, str, utf8 } from "./json";

export * from "./json";

/** Why a Handler is called (the call record's hook). */
export enum Hook {
  /** A client frame "<namespace>.<action>". */
  Message = 0,
  /** A connection joined the room; Call.reply sends its join state. */
  Join = 1,
  /** A connection left the room or dropped. */
  Leave = 2,
}

/** hookName returns "message", "join" or "leave". */
export function hookName(h: Hook): string {
  if (h == Hook.Message) return "message";
  if (h == Hook.Join) return "join";
  if (h == Hook.Leave) return "leave";
  return "hook(" + (<i32>h).toString() + ")";
}

/** The identity of a connection's owner, from its token (never from the client). */
export class User {
  constructor(
    public id: string,
    public name: string,
    public role: string,
  ) {}

  /** Appends the user as {"id":…,"name":…,"role":…} to b. */
  appendJSON(b: Buf): Buf {
    return b.str('{"id":').jsonStringOf(this.id).str(',"name":').jsonStringOf(this.name).str(',"role":').jsonStringOf(this.role).byte(0x7d);
  }
}

/** Selects recipients within the room (the ABI's target kinds). */
export enum TargetKind {
  Room = 0,
  Others = 1,
  Role = 2,
  User = 3,
  Conn = 4,
}

/** The recipients of an ephemeral event (Call.send). */
export class Target {
  constructor(
    public kind: TargetKind,
    public value: string = "",
  ) {}

  /** Every member of the room. */
  static room(): Target {
    return new Target(TargetKind.Room);
  }
  /** Every member except the calling connection. */
  static others(): Target {
    return new Target(TargetKind.Others);
  }
  /** The members whose role is role. */
  static role(role: string): Target {
    return new Target(TargetKind.Role, role);
  }
  /** Every connection of user id. */
  static user(id: string): Target {
    return new Target(TargetKind.User, id);
  }
  /** One connection. */
  static conn(id: string): Target {
    return new Target(TargetKind.Conn, id);
  }
}

/**
 * An error: null for none, else its message. Handlers return it; the SDK
 * methods that ask the host for something return it (null unless the host
 * refused), so a handler can `return c.reject("…")`.
 */
export type Err = string | null;

/** Log levels of Call.log and log. */
export enum Level {
  Debug = 0,
  Info = 1,
  Warn = 2,
  Error = 3,
}

/** log writes a line to the host's log, tagged with the plugin and room (1024 bytes at most, 32 lines per call). */
export function log(level: Level, msg: string): void {
  const b = String.UTF8.encode(msg);
  hostLog(<i32>level, changetype<usize>(b), b.byteLength);
}

/**
 * A plugin's behaviour. handle runs once per call; returning an error
 * (a non-null message) makes the host answer the sender with plugin_error
 * and log the message. Use Call.reject for refusals the client should see
 * as "rejected", Call.forbid for role or token rules ("forbidden").
 *
 * AssemblyScript has no closures: keep the plugin's configuration in the
 * Handler's fields, built by the factory.
 */
export abstract class Handler {
  abstract handle(c: Call): Err;
}

/**
 * Builds the plugin's Handler from its configuration, once per instance at
 * load. A Config accessor that fails records the error in cfg.err; the SDK
 * then fails the load with it, as it does when the factory returns null
 * (set cfg.err to say why).
 */
export type Factory = (cfg: Config) => Handler | null;

/** @internal the registered factory (see register). */
export let registered: Factory | null = null;

/** register sets the plugin's factory. Call it at the top level of the plugin's entry file. */
export function register(f: Factory): void {
  registered = f;
}

/** One key/value pair of the room state (Call.list). */
export class Entry {
  constructor(
    public key: string,
    public value: Uint8Array,
  ) {}
}

let scratch = new ArrayBuffer(4096);

function scratchBuf(n: i32): ArrayBuffer {
  if (scratch.byteLength < n) scratch = new ArrayBuffer(n);
  return scratch;
}

function hostErr(op: string, code: i32): string {
  let why = "invalid argument";
  if (code == RESULT_LIMIT) why = "per-call limit exceeded";
  else if (code == RESULT_DENIED) why = "operation not allowed here";
  return "sdk: host refused " + op + ": " + why;
}

/**
 * One invocation, valid only while the Handler runs. Methods that hand
 * something to the host (set, broadcast, send, reply, reject…) copy their
 * arguments before returning, so a plugin may build every output in one
 * reusable Buf.
 */
export class Call {
  /** Why the handler is called. */
  hook: Hook = Hook.Message;
  /** The namespace the plugin is mounted under ("poll"); events are "<namespace>.<action>". */
  namespace: string = "";
  /** The client frame's type ("poll.vote"), Hook.Message only. */
  type: string = "";
  /** The type's part after the namespace ("vote"). */
  action: string = "";
  room: string = "";
  /** The calling connection's id. */
  conn: string = "";
  /** The sender, from its token. */
  sender: User = new User("", "", "");
  /** The frame's data as raw JSON (empty when none), Hook.Message only. */
  data: Uint8Array = new Uint8Array(0);
  /** Hook.Join: the user's first connection in the room. */
  firstOfUser: bool = false;
  /** Hook.Leave: the user has no connection left in the room. */
  lastOfUser: bool = false;
  /** Hook.Leave: nobody is left in the room. */
  roomEmpty: bool = false;
  /** The room's seq as of the state this call sees; the first durable event gets seq+1. */
  seq: u64 = 0;
  /** The first host refusal of this call (sticky): the call then fails with plugin_error. */
  err: Err = null;

  private check(op: string, code: i32): Err {
    if (code >= 0) return null;
    const e = hostErr(op, code);
    if (this.err === null) this.err = e;
    return e;
  }

  /** The value of key in the room state as this call sees it (its own earlier writes included), or null. */
  get(key: string): Uint8Array | null {
    const k = String.UTF8.encode(key);
    let buf = scratch;
    let n = hostStateGet(changetype<usize>(k), k.byteLength, changetype<usize>(buf), buf.byteLength);
    if (n > buf.byteLength) {
      buf = scratchBuf(n);
      n = hostStateGet(changetype<usize>(k), k.byteLength, changetype<usize>(buf), buf.byteLength);
    }
    if (n == RESULT_NOT_FOUND) return null;
    if (this.check("state_get", n) !== null || n > buf.byteLength) return null;
    const out = new Uint8Array(n);
    memory.copy(out.dataStart, changetype<usize>(buf), n);
    return out;
  }

  /** get decoded as UTF-8, or null. */
  getString(key: string): string | null {
    const v = this.get(key);
    return v === null ? null : str(v);
  }

  /** Whether key is set, without copying its value. */
  has(key: string): bool {
    const k = String.UTF8.encode(key);
    const n = hostStateGet(changetype<usize>(k), k.byteLength, changetype<usize>(scratch), 0);
    if (n == RESULT_NOT_FOUND) return false;
    return this.check("state_get", n) === null;
  }

  /** The entries whose key starts with prefix, sorted by key (bytewise). */
  list(prefix: string): Entry[] {
    const p = String.UTF8.encode(prefix);
    let buf = scratch;
    let n = hostStateList(changetype<usize>(p), p.byteLength, changetype<usize>(buf), buf.byteLength);
    if (n > buf.byteLength) {
      buf = scratchBuf(n);
      n = hostStateList(changetype<usize>(p), p.byteLength, changetype<usize>(buf), buf.byteLength);
    }
    const out = new Array<Entry>();
    if (this.check("state_list", n) !== null || n > buf.byteLength) return out;
    const b = new Uint8Array(n);
    memory.copy(b.dataStart, changetype<usize>(buf), n);
    const v = new DataView(b.buffer);
    for (let i = 0; i < n; ) {
      if (n - i < 4) return out;
      const kn = <i32>v.getUint32(i, true);
      i += 4;
      if (kn > n - i || n - i - kn < 4) return out;
      const key = String.UTF8.decodeUnsafe(b.dataStart + i, kn);
      i += kn;
      const vn = <i32>v.getUint32(i, true);
      i += 4;
      if (vn > n - i) return out;
      out.push(new Entry(key, b.subarray(i, i + vn)));
      i += vn;
    }
    return out;
  }

  /** Sets key to value; applied, with the call's durable events, only if the call succeeds and does not reject. */
  set(key: string, value: Uint8Array): Err {
    const k = String.UTF8.encode(key);
    return this.check("state_set", hostStateSet(changetype<usize>(k), k.byteLength, value.dataStart, value.length));
  }

  /** set with the UTF-8 bytes of value. */
  setString(key: string, value: string): Err {
    return this.set(key, utf8(value));
  }

  /** Deletes key. */
  del(key: string): Err {
    const k = String.UTF8.encode(key);
    return this.check("state_del", hostStateDel(changetype<usize>(k), k.byteLength));
  }

  /** Deletes every key of the plugin's state in this room. */
  clear(): Err {
    return this.check("state_clear", hostStateClear());
  }

  private emit(flags: u32, to: Target, action: string, data: Uint8Array | null): Err {
    const t = String.UTF8.encode(to.value);
    const y = String.UTF8.encode(this.namespace + "." + action);
    let dp: usize = 0;
    let dn: i32 = 0;
    if (data !== null) {
      dp = data.dataStart;
      dn = data.length;
    }
    return this.check(
      "emit",
      hostEmit(flags, <u32>to.kind, changetype<usize>(t), t.byteLength, changetype<usize>(y), y.byteLength, dp, dn),
    );
  }

  /** Emits a durable event "<namespace>.<action>" to the room: it gets a seq and is kept in the history. data is raw JSON (null for none). */
  broadcast(action: string, data: Uint8Array | null): Err {
    return this.emit(EMIT_DURABLE, Target.room(), action, data);
  }

  /** Emits an ephemeral event (no seq, not stored) to the recipients selected by to. */
  send(to: Target, action: string, data: Uint8Array | null): Err {
    return this.emit(0, to, action, data);
  }

  /** Sends an ephemeral event to the calling connection only; on Hook.Join, the newcomer's join state. */
  reply(action: string, data: Uint8Array | null): Err {
    return this.emit(EMIT_REPLY, Target.conn(""), action, data);
  }

  /** Refuses the frame: the sender gets "rejected" with reason and nothing else of the call is applied. */
  reject(reason: string): Err {
    const r = String.UTF8.encode(reason);
    return this.check("reject", hostReject(changetype<usize>(r), r.byteLength));
  }

  /** Refuses the frame for a role or token rule: the sender gets "forbidden" with reason. */
  forbid(reason: string): Err {
    const r = String.UTF8.encode(reason);
    return this.check("forbid", hostForbid(changetype<usize>(r), r.byteLength));
  }

  /** Writes a line to the host's log, tagged with the plugin and room. */
  log(level: Level, msg: string): void {
    log(level, msg);
  }

  /** Parses data as a JSON object (empty data is an empty object), or null when it is not one. */
  object(): Obj | null {
    if (this.data.length == 0) return new Obj();
    return parseObject(this.data);
  }
}

/** The result of findJSON. */
export class Found {
  constructor(
    public raw: Uint8Array,
    public count: i32,
  ) {}
}

let findOut = new ArrayBuffer(12);

/**
 * findJSON finds the value at a dot-separated key path of the JSON
 * document doc ("element.points"; "" is doc) natively in the host, and
 * its element count when it is an array: faster than scanning in the
 * guest for large documents. null when a key is missing or doc is not
 * valid JSON (findJSONInvalid tells the two apart). raw is a view of doc.
 */
export function findJSON(doc: Uint8Array, path: string): Found | null {
  findInvalid = true;
  if (doc.length == 0) return null;
  const p = String.UTF8.encode(path);
  const r = hostJSONFind(doc.dataStart, doc.length, changetype<usize>(p), p.byteLength, changetype<usize>(findOut));
  if (r == RESULT_NOT_FOUND) {
    findInvalid = false;
    return null;
  }
  if (r != 0) return null;
  const off = load<u32>(changetype<usize>(findOut));
  const n = load<u32>(changetype<usize>(findOut) + 4);
  if (<u64>off + <u64>n > <u64>doc.length) return null;
  findInvalid = false;
  return new Found(doc.subarray(off, off + n), load<u32>(changetype<usize>(findOut) + 8));
}

let findInvalid = false;

/** findJSONInvalid reports whether the last findJSON returned null because the document was invalid. */
export function findJSONInvalid(): bool {
  return findInvalid;
}

/**
 * The plugin's configuration subtree (a JSON object). Accessors return
 * the default when the key is absent or null; on a value of the wrong
 * kind they return the default and record the first error in err, which
 * fails the plugin's load.
 */
export class Config {
  /** The configuration as JSON. */
  raw: Uint8Array;
  /** The first error of an accessor (or set by the factory): the load fails with it. */
  err: Err = null;
  private obj: Obj = new Obj();

  constructor(raw: Uint8Array) {
    if (raw.length == 0) raw = utf8("{}");
    this.raw = raw;
    const o = parseObject(raw);
    if (o === null) this.err = "sdk: config is not a JSON object";
    else this.obj = o;
  }

  private fail(key: string, why: string): void {
    if (this.err === null) this.err = "sdk: config " + key + ": " + why;
  }

  private value(key: string): Uint8Array | null {
    const v = this.obj.get(key);
    if (v === null || kindOf(v) == Kind.Null) return null;
    return v;
  }

  /** Whether key is set (and not null). */
  has(key: string): bool {
    return this.value(key) !== null;
  }

  /** The integer at key, or def. */
  int(key: string, def: i64): i64 {
    const v = this.value(key);
    if (v === null) return def;
    if (kindOf(v) != Kind.Number) {
      this.fail(key, "not a number");
      return def;
    }
    const f = parseFloat(str(v));
    if (isNaN(f) || f != Math.trunc(f) || Math.abs(f) >= 9223372036854775808.0) { // Go: f != float64(int(f))
      this.fail(key, "not an integer");
      return def;
    }
    return <i64>f;
  }

  /** The string at key, or def. */
  string(key: string, def: string): string {
    const v = this.value(key);
    if (v === null) return def;
    const s = unquote(v);
    if (s === null) {
      this.fail(key, "not a string");
      return def;
    }
    return str(s);
  }

  /** The boolean at key, or def. */
  bool(key: string, def: bool): bool {
    const v = this.value(key);
    if (v === null) return def;
    const s = str(v);
    if (s == "true") return true;
    if (s == "false") return false;
    this.fail(key, "not a boolean");
    return def;
  }

  /** The array of strings at key, or def. */
  strings(key: string, def: string[]): string[] {
    const v = this.value(key);
    if (v === null) return def;
    const els = elements(v);
    if (els === null) {
      this.fail(key, "not an array");
      return def;
    }
    const out = new Array<string>();
    for (let i = 0; i < els.length; i++) {
      const s = unquote(els[i]);
      if (s === null) {
        this.fail(key, "not an array of strings");
        return def;
      }
      out.push(str(s));
    }
    return out;
  }
}
