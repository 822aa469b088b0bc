// The exports of classgate plugin ABI version 1 (plugins/abi/ABI.md §1,
// §3–§5). A plugin's entry file re-exports them:
//
//   export * from "../sdk/exports";
//
// and is compiled with `--exportStart _initialize --use abort=sdk/abi/cgAbort
// --runtime minimal` (plugins/assemblyscript/build.sh), so the module is a
// WASI-style reactor whose only imports are classgate_v1 functions and
// fd_write (for aborts).

import {
  hostLog,
  STATUS_OK,
  STATUS_ERROR,
  STATUS_BAD_INPUT,
  RECORD_VERSION,
  RECORD_HEADER_SIZE,
  NUM_FIELDS,
  FIELD_NAMESPACE,
  FIELD_TYPE,
  FIELD_ROOM,
  FIELD_CONN,
  FIELD_USER_ID,
  FIELD_USER_NAME,
  FIELD_USER_ROLE,
  FIELD_DATA,
  FLAG_FIRST_OF_USER,
  FLAG_LAST_OF_USER,
  FLAG_ROOM_EMPTY,
} from "./abi";
import { Call, Config, Handler, Hook, Level, User, log, registered } from "./index";

// The input buffer, owned by the host between cg_alloc calls (ABI §3).
let inbuf: ArrayBuffer | null = null;
// Built by cg_init.
let handler: Handler | null = null;

/** The ABI version marker; never called. */
export function classgate_abi_version_1(): void {}

/** Returns a buffer of at least size bytes for the host's next inputs (ABI §3). */
export function cg_alloc(size: u32): usize {
  if (size == 0) size = 1;
  const b = new ArrayBuffer(<i32>size);
  inbuf = b;
  return changetype<usize>(b);
}

/** Builds the handler from the configuration, a JSON object (ABI §4). */
export function cg_init(ptr: usize, len: u32): i32 {
  const status = init(ptr, len);
  __collect(); // see cg_handle
  return status;
}

function init(ptr: usize, len: u32): i32 {
  const f = registered;
  if (f === null) {
    log(Level.Error, "sdk: no plugin registered (call register at the top level of the entry file)");
    return STATUS_ERROR;
  }
  const raw = new Uint8Array(<i32>len);
  memory.copy(raw.dataStart, ptr, len);
  const cfg = new Config(raw);
  if (cfg.err !== null) {
    log(Level.Error, cfg.err!);
    return STATUS_BAD_INPUT;
  }
  const h = f(cfg);
  if (cfg.err !== null) {
    log(Level.Error, cfg.err!);
    return STATUS_ERROR;
  }
  if (h === null) {
    log(Level.Error, "sdk: factory returned no handler");
    return STATUS_ERROR;
  }
  handler = h;
  return STATUS_OK;
}

function field(ptr: usize, len: u32, i: i32): Uint8Array | null {
  const off = load<u32>(ptr + 24 + 8 * i);
  const n = load<u32>(ptr + 28 + 8 * i);
  if (off < <u32>RECORD_HEADER_SIZE || <u64>off + <u64>n > <u64>len) return null;
  const b = new Uint8Array(<i32>n);
  memory.copy(b.dataStart, ptr + off, n);
  return b;
}

function text(b: Uint8Array): string {
  return String.UTF8.decodeUnsafe(b.dataStart, b.length);
}

// decode fills c from the call record at ptr (ABI §5), or returns false.
function decode(c: Call, ptr: usize, len: u32): bool {
  if (len < <u32>RECORD_HEADER_SIZE || load<u32>(ptr) != RECORD_VERSION) return false;
  const f = new Array<Uint8Array>(NUM_FIELDS);
  for (let i = 0; i < NUM_FIELDS; i++) {
    const b = field(ptr, len, i);
    if (b === null) return false;
    f[i] = b;
  }
  const flags = load<u32>(ptr + 8);
  c.hook = <Hook>load<u32>(ptr + 4);
  c.namespace = text(f[FIELD_NAMESPACE]);
  c.type = text(f[FIELD_TYPE]);
  c.room = text(f[FIELD_ROOM]);
  c.conn = text(f[FIELD_CONN]);
  c.sender = new User(text(f[FIELD_USER_ID]), text(f[FIELD_USER_NAME]), text(f[FIELD_USER_ROLE]));
  c.data = f[FIELD_DATA];
  c.firstOfUser = (flags & FLAG_FIRST_OF_USER) != 0;
  c.lastOfUser = (flags & FLAG_LAST_OF_USER) != 0;
  c.roomEmpty = (flags & FLAG_ROOM_EMPTY) != 0;
  c.seq = load<u64>(ptr + 16);
  c.action = "";
  const ns = c.namespace;
  if (c.type.length > ns.length && c.type.charCodeAt(ns.length) == 0x2e && c.type.startsWith(ns)) {
    c.action = c.type.substring(ns.length + 1);
  }
  return true;
}

/**
 * Runs the handler on one call record (ABI §5), then frees the call's
 * garbage. The module uses AssemblyScript's minimal runtime (build.sh
 * --runtime minimal): no collection runs during a call — a call allocates
 * little, and an incremental collector's bookkeeping cost more than the
 * poll's whole logic — and one full collection runs here, when no call
 * is in progress, so only the module's globals hold objects (the minimal
 * runtime's collector sees no locals: never call __collect yourself).
 */
export function cg_handle(ptr: usize, len: u32): i32 {
  const status = handle(ptr, len);
  __collect();
  return status;
}

function handle(ptr: usize, len: u32): i32 {
  const h = handler;
  if (h === null) {
    log(Level.Error, "sdk: cg_handle before a successful cg_init");
    return STATUS_ERROR;
  }
  const c = new Call();
  if (!decode(c, ptr, len)) {
    log(Level.Error, "sdk: malformed call record");
    return STATUS_BAD_INPUT;
  }
  const err = h.handle(c);
  if (err !== null) {
    log(Level.Error, err);
    return STATUS_ERROR;
  }
  if (c.err !== null) {
    log(Level.Error, c.err!);
    return STATUS_ERROR;
  }
  return STATUS_OK;
}
