// The numbers and host imports of classgate plugin ABI version 1
// (plugins/abi/ABI.md). Internal to the SDK: plugins use index.ts.
// TestABIConstantsMatch (abi_test.go) checks the numbers and import names
// against plugins/abi; the host refuses to load a module whose imports or
// exports disagree with the ABI.

// Status codes of cg_init and cg_handle (ABI §5).
export const STATUS_OK: i32 = 0;
export const STATUS_ERROR: i32 = -1;
export const STATUS_BAD_INPUT: i32 = -3;

// Import results (ABI §6).
export const RESULT_NOT_FOUND: i32 = -1;
export const RESULT_INVALID: i32 = -2;
export const RESULT_LIMIT: i32 = -3;
export const RESULT_DENIED: i32 = -4;

// Call record (ABI §5).
export const RECORD_VERSION: u32 = 1;
export const NUM_FIELDS: i32 = 8;
export const RECORD_HEADER_SIZE: i32 = 24 + 8 * NUM_FIELDS;
export const FIELD_NAMESPACE: i32 = 0;
export const FIELD_TYPE: i32 = 1;
export const FIELD_ROOM: i32 = 2;
export const FIELD_CONN: i32 = 3;
export const FIELD_USER_ID: i32 = 4;
export const FIELD_USER_NAME: i32 = 5;
export const FIELD_USER_ROLE: i32 = 6;
export const FIELD_DATA: i32 = 7;
export const FLAG_FIRST_OF_USER: u32 = 1 << 0;
export const FLAG_LAST_OF_USER: u32 = 1 << 1;
export const FLAG_ROOM_EMPTY: u32 = 1 << 2;

// emit flags (ABI §6).
export const EMIT_DURABLE: u32 = 1 << 0;
export const EMIT_REPLY: u32 = 1 << 1;

// Host imports, module classgate_v1 (ABI §6). Pointers are offsets in this
// module's memory; an import the plugin never calls is not imported.

// @ts-ignore: decorator
@external("classgate_v1", "log")
export declare function hostLog(level: i32, ptr: usize, len: usize): void;

// @ts-ignore: decorator
@external("classgate_v1", "state_get")
export declare function hostStateGet(keyPtr: usize, keyLen: usize, buf: usize, bufCap: usize): i32;

// @ts-ignore: decorator
@external("classgate_v1", "state_list")
export declare function hostStateList(prefixPtr: usize, prefixLen: usize, buf: usize, bufCap: usize): i32;

// @ts-ignore: decorator
@external("classgate_v1", "state_set")
export declare function hostStateSet(keyPtr: usize, keyLen: usize, valPtr: usize, valLen: usize): i32;

// @ts-ignore: decorator
@external("classgate_v1", "state_del")
export declare function hostStateDel(keyPtr: usize, keyLen: usize): i32;

// @ts-ignore: decorator
@external("classgate_v1", "state_clear")
export declare function hostStateClear(): i32;

// @ts-ignore: decorator
@external("classgate_v1", "emit")
export declare function hostEmit(
  flags: u32,
  kind: u32,
  targetPtr: usize,
  targetLen: usize,
  typePtr: usize,
  typeLen: usize,
  dataPtr: usize,
  dataLen: usize,
): i32;

// @ts-ignore: decorator
@external("classgate_v1", "reject")
export declare function hostReject(ptr: usize, len: usize): i32;

// @ts-ignore: decorator
@external("classgate_v1", "forbid")
export declare function hostForbid(ptr: usize, len: usize): i32;

// @ts-ignore: decorator
@external("classgate_v1", "json_find")
export declare function hostJSONFind(docPtr: usize, docLen: usize, pathPtr: usize, pathLen: usize, out: usize): i32;

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "fd_write")
declare function fdWrite(fd: u32, iovs: usize, iovsLen: u32, written: usize): u32;

let aborting = false;

/**
 * AssemblyScript's abort (a failed assertion, an out-of-bounds index, a
 * null dereference, `throw`, running out of memory): logs "abort: MESSAGE
 * at FILE:LINE:COL" at error level, writes the same line to stderr (the
 * host quotes it in the call's error: "crashed: … (guest output: abort:
 * …)"), and traps, so the call fails and the host discards the instance
 * (ABI §5). Installed by `--use abort=sdk/abi/cgAbort`; not exported from
 * the module.
 */
export function cgAbort(msg: string | null, file: string | null, line: u32, col: u32): void {
  if (aborting) unreachable(); // an abort while reporting one (out of memory)
  aborting = true;
  const m = "abort: " + (msg !== null ? msg : "") + " at " + (file !== null ? file : "?") + ":" + line.toString() + ":" + col.toString();
  const b = String.UTF8.encode(m + "\n");
  hostLog(3, changetype<usize>(b), b.byteLength - 1);
  const iov = new ArrayBuffer(16);
  store<u32>(changetype<usize>(iov), changetype<usize>(b));
  store<u32>(changetype<usize>(iov) + 4, b.byteLength);
  fdWrite(2, changetype<usize>(iov), 1, changetype<usize>(iov) + 8);
  unreachable();
}
