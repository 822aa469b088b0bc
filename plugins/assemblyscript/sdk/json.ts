// Single-pass JSON helpers on UTF-8 bytes, and Buf, a reusable output
// builder. A port of the Go SDK's plugins/sdk/jsonlite: the same grammar
// (RFC 8259, nesting at most MAX_DEPTH), the same "last duplicate key wins"
// for objects and "first match" for lookup, and the same escaping on output
// (appendString), so an AssemblyScript plugin and a Go plugin emit the same
// bytes for the same input.
//
// Nothing here throws: AssemblyScript has no exceptions. Parsers return
// null, or -1 for an end offset, on malformed input.

/** Deepest nesting of arrays and objects accepted (jsonlite.MaxDepth). */
export const MAX_DEPTH: i32 = 64;

/** The kind of a JSON value, by its first byte (jsonlite.Kind). */
export enum Kind {
  Invalid = 0,
  Null = 1,
  Bool = 2,
  Number = 3,
  String = 4,
  Array = 5,
  Object = 6,
}

/** kindOf returns the kind of the raw value v (leading whitespace allowed); it does not validate v. */
export function kindOf(v: Uint8Array): Kind {
  const i = skipSpace(v, 0);
  if (i >= v.length) return Kind.Invalid;
  const c = v[i];
  if (c == 0x7b) return Kind.Object; // {
  if (c == 0x5b) return Kind.Array; // [
  if (c == 0x22) return Kind.String; // "
  if (c == 0x74 || c == 0x66) return Kind.Bool; // t f
  if (c == 0x6e) return Kind.Null; // n
  if (c == 0x2d || (c >= 0x30 && c <= 0x39)) return Kind.Number;
  return Kind.Invalid;
}

/** One member of a parsed object: its unescaped key and its raw value (a view of the input). */
export class Member {
  constructor(public key: string, public value: Uint8Array) {}
}

/** A parsed JSON object: its members in input order (jsonlite.Obj). */
export class Obj {
  members: Member[] = [];

  /** The raw value of key (the last one when the key is repeated), or null. */
  get(key: string): Uint8Array | null {
    for (let i = this.members.length - 1; i >= 0; i--) {
      if (this.members[i].key == key) return this.members[i].value;
    }
    return null;
  }
}

/** parseObject validates that b is exactly one JSON object and returns its members, or null. Values are views of b. */
export function parseObject(b: Uint8Array): Obj | null {
  let i = skipSpace(b, 0);
  if (i >= b.length || b[i] != 0x7b) return null;
  const obj = new Obj();
  i = skipSpace(b, i + 1);
  if (i < b.length && b[i] == 0x7d) i++;
  else i = parseMembers(b, i, obj);
  if (i < 0 || skipSpace(b, i) != b.length) return null;
  return obj;
}

// parseMembers parses the members of an object from b[i] to its closing
// brace into obj and returns the index after the brace, or -1. (The loops
// of this file end by return, never by break: with asc 0.28 a break out of
// such a for(;;) nested in an if/else trapped as unreachable.)
function parseMembers(b: Uint8Array, i: i32, obj: Obj): i32 {
  for (;;) {
    if (i >= b.length || b[i] != 0x22) return -1;
    const end = scanString(b, i);
    if (end < 0) return -1;
    const key = unquoteRange(b, i + 1, end - 1);
    i = skipSpace(b, end);
    if (i >= b.length || b[i] != 0x3a) return -1;
    i = skipSpace(b, i + 1);
    const vend = skipValue(b, i, 1);
    if (vend < 0) return -1;
    obj.members.push(new Member(String.UTF8.decodeUnsafe(key.dataStart, key.length), b.subarray(i, vend)));
    i = skipSpace(b, vend);
    if (i < b.length && b[i] == 0x2c) {
      i = skipSpace(b, i + 1);
      continue;
    }
    if (i < b.length && b[i] == 0x7d) return i + 1;
    return -1;
  }
}

/**
 * lookup returns the raw value of the first member named key of the object
 * obj, or null when obj has no such member or is malformed up to it
 * (jsonlite.Lookup; lookupFailed tells the two apart).
 */
export function lookup(obj: Uint8Array, key: string): Uint8Array | null {
  lookupErr = true;
  let i = skipSpace(obj, 0);
  if (i >= obj.length || obj[i] != 0x7b) return null;
  i = skipSpace(obj, i + 1);
  if (i < obj.length && obj[i] == 0x7d) {
    lookupErr = false;
    return null;
  }
  const want = utf8(key);
  for (;;) {
    if (i >= obj.length || obj[i] != 0x22) return null;
    const end = scanString(obj, i);
    if (end < 0) return null;
    const match = bytesEqual(unquoteRange(obj, i + 1, end - 1), want);
    i = skipSpace(obj, end);
    if (i >= obj.length || obj[i] != 0x3a) return null;
    i = skipSpace(obj, i + 1);
    const vend = skipValue(obj, i, 1);
    if (vend < 0) return null;
    if (match) {
      lookupErr = false;
      return obj.subarray(i, vend);
    }
    i = skipSpace(obj, vend);
    if (i < obj.length && obj[i] == 0x2c) {
      i = skipSpace(obj, i + 1);
      continue;
    }
    if (i < obj.length && obj[i] == 0x7d) {
      lookupErr = false;
      return null;
    }
    return null;
  }
}

let lookupErr = false;

/** lookupFailed reports whether the last lookup returned null because its input was malformed. */
export function lookupFailed(): bool {
  return lookupErr;
}

/** elements returns the raw elements of the JSON array v (views of v), or null when v is not exactly one valid array. */
export function elements(v: Uint8Array | null): Uint8Array[] | null {
  if (v === null) return null;
  const b = v;
  let i = skipSpace(b, 0);
  if (i >= b.length || b[i] != 0x5b) return null;
  const out = new Array<Uint8Array>();
  i = skipSpace(b, i + 1);
  if (i < b.length && b[i] == 0x5d) i++;
  else i = parseElements(b, i, out);
  if (i < 0 || skipSpace(b, i) != b.length) return null;
  return out;
}

// parseElements parses the elements of an array from b[i] to its closing
// bracket into out and returns the index after the bracket, or -1.
function parseElements(b: Uint8Array, i: i32, out: Uint8Array[]): i32 {
  for (;;) {
    const end = skipValue(b, i, 1);
    if (end < 0) return -1;
    out.push(b.subarray(i, end));
    i = skipSpace(b, end);
    if (i < b.length && b[i] == 0x2c) {
      i = skipSpace(b, i + 1);
      continue;
    }
    if (i < b.length && b[i] == 0x5d) return i + 1;
    return -1;
  }
}

/** unquote returns the UTF-8 bytes of the raw JSON string v, or null when v is not exactly one string. */
export function unquote(v: Uint8Array | null): Uint8Array | null {
  if (v === null) return null;
  const b = v;
  const i = skipSpace(b, 0);
  if (i >= b.length || b[i] != 0x22) return null;
  const end = scanString(b, i);
  if (end < 0 || skipSpace(b, end) != b.length) return null;
  return unquoteRange(b, i + 1, end - 1);
}

/** unquoteString is unquote decoded to a string, or null. */
export function unquoteString(v: Uint8Array | null): string | null {
  const u = unquote(v);
  if (u === null) return null;
  return String.UTF8.decodeUnsafe(u.dataStart, u.length);
}

/** valid reports whether b is exactly one JSON value (surrounding whitespace allowed). */
export function valid(b: Uint8Array): bool {
  const i = skipSpace(b, 0);
  const end = skipValue(b, i, 0);
  return end >= 0 && skipSpace(b, end) == b.length;
}

/** utf8 returns the UTF-8 bytes of s. */
export function utf8(s: string): Uint8Array {
  return Uint8Array.wrap(String.UTF8.encode(s));
}

/** str decodes UTF-8 bytes to a string. */
export function str(b: Uint8Array): string {
  return String.UTF8.decodeUnsafe(b.dataStart, b.length);
}

/** bytesEqual reports whether a and b hold the same bytes. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): bool {
  if (a.length != b.length) return false;
  return memory.compare(a.dataStart, b.dataStart, a.length) == 0;
}

/** bytesEqualString reports whether b holds the UTF-8 bytes of the ASCII string s. */
export function bytesEqualString(b: Uint8Array | null, s: string): bool {
  if (b === null) return false;
  const v = b;
  if (v.length != s.length) return false;
  for (let i = 0; i < v.length; i++) {
    if (<i32>v[i] != s.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * parseInt returns the integer of the decimal text b (an optional sign and
 * digits, as Go's strconv.Atoi), or null when b is anything else or has
 * more than 15 digits (callers compare it with small bounds).
 */
export function parseInt(b: Uint8Array | null): Box<i64> | null {
  if (b === null) return null;
  const v = b;
  let i = 0;
  let neg = false;
  if (v.length > 0 && (v[0] == 0x2d || v[0] == 0x2b)) {
    neg = v[0] == 0x2d;
    i = 1;
  }
  if (i >= v.length || v.length - i > 15) return null;
  let n: i64 = 0;
  for (; i < v.length; i++) {
    const c = v[i];
    if (c < 0x30 || c > 0x39) return null;
    n = n * 10 + <i64>(c - 0x30);
  }
  return new Box<i64>(neg ? -n : n);
}

/** A boxed value, for results that may be absent. */
export class Box<T> {
  constructor(public value: T) {}
}

/** isBlank reports whether the UTF-8 text b is empty or only Unicode white space (Go's strings.TrimSpace(s) == ""). */
export function isBlank(b: Uint8Array): bool {
  let i = 0;
  while (i < b.length) {
    const r = decodeRune(b, i);
    if (!isSpace(r)) return false;
    i += runeSize;
  }
  return true;
}

// Go's unicode.IsSpace.
function isSpace(r: i32): bool {
  if (r <= 0xff) return r == 0x20 || (r >= 0x09 && r <= 0x0d) || r == 0x85 || r == 0xa0;
  return r == 0x1680 || (r >= 0x2000 && r <= 0x200a) || r == 0x2028 || r == 0x2029 || r == 0x202f || r == 0x205f || r == 0x3000;
}

// runeSize is the size of the rune decodeRune last decoded.
let runeSize: i32 = 1;

// decodeRune decodes the UTF-8 rune at b[i] as Go's utf8.DecodeRune:
// 0xFFFD with size 1 for an invalid sequence.
function decodeRune(b: Uint8Array, i: i32): i32 {
  const c0 = <i32>b[i];
  runeSize = 1;
  if (c0 < 0x80) return c0;
  const n = b.length - i;
  if (c0 >= 0xc2 && c0 <= 0xdf) {
    if (n >= 2 && (b[i + 1] & 0xc0) == 0x80) {
      runeSize = 2;
      return ((c0 & 0x1f) << 6) | (b[i + 1] & 0x3f);
    }
    return 0xfffd;
  }
  if (c0 >= 0xe0 && c0 <= 0xef) {
    if (n < 3) return 0xfffd;
    const c1 = <i32>b[i + 1];
    const lo = c0 == 0xe0 ? 0xa0 : 0x80;
    const hi = c0 == 0xed ? 0x9f : 0xbf;
    if (c1 < lo || c1 > hi || (b[i + 2] & 0xc0) != 0x80) return 0xfffd;
    runeSize = 3;
    return ((c0 & 0x0f) << 12) | ((c1 & 0x3f) << 6) | (b[i + 2] & 0x3f);
  }
  if (c0 >= 0xf0 && c0 <= 0xf4) {
    if (n < 4) return 0xfffd;
    const c1 = <i32>b[i + 1];
    const lo = c0 == 0xf0 ? 0x90 : 0x80;
    const hi = c0 == 0xf4 ? 0x8f : 0xbf;
    if (c1 < lo || c1 > hi || (b[i + 2] & 0xc0) != 0x80 || (b[i + 3] & 0xc0) != 0x80) return 0xfffd;
    runeSize = 4;
    return ((c0 & 0x07) << 18) | ((c1 & 0x3f) << 12) | ((b[i + 2] & 0x3f) << 6) | (b[i + 3] & 0x3f);
  }
  return 0xfffd;
}

function skipSpace(b: Uint8Array, i: i32): i32 {
  while (i < b.length) {
    const c = b[i];
    if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) return i;
    i++;
  }
  return i;
}

function isHex(c: u8): bool {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}

// scanString scans the string starting at b[i] == '"' and returns the
// index after its closing quote, or -1.
function scanString(b: Uint8Array, i: i32): i32 {
  for (let j = i + 1; j < b.length; j++) {
    const c = b[j];
    if (c == 0x22) return j + 1;
    if (c == 0x5c) {
      j++;
      if (j >= b.length) return -1;
      const e = b[j];
      if (e == 0x75) {
        if (j + 4 >= b.length || !isHex(b[j + 1]) || !isHex(b[j + 2]) || !isHex(b[j + 3]) || !isHex(b[j + 4])) return -1;
        j += 4;
      } else if (e != 0x22 && e != 0x5c && e != 0x2f && e != 0x62 && e != 0x66 && e != 0x6e && e != 0x72 && e != 0x74) {
        return -1;
      }
    } else if (c < 0x20) {
      return -1;
    }
  }
  return -1;
}

// skipValue returns the index after the value starting at b[i], or -1.
function skipValue(b: Uint8Array, i: i32, depth: i32): i32 {
  if (i >= b.length) return -1;
  const c = b[i];
  if (c == 0x22) return scanString(b, i);
  if (c == 0x7b || c == 0x5b) {
    if (depth >= MAX_DEPTH) return -1;
    const closeC: u8 = c == 0x7b ? 0x7d : 0x5d;
    i = skipSpace(b, i + 1);
    if (i < b.length && b[i] == closeC) return i + 1;
    for (;;) {
      if (c == 0x7b) {
        if (i >= b.length || b[i] != 0x22) return -1;
        const end = scanString(b, i);
        if (end < 0) return -1;
        i = skipSpace(b, end);
        if (i >= b.length || b[i] != 0x3a) return -1;
        i = skipSpace(b, i + 1);
      }
      const end = skipValue(b, i, depth + 1);
      if (end < 0) return -1;
      i = skipSpace(b, end);
      if (i < b.length && b[i] == 0x2c) {
        i = skipSpace(b, i + 1);
        continue;
      }
      if (i < b.length && b[i] == closeC) return i + 1;
      return -1;
    }
  }
  if (c == 0x74) return literal(b, i, "true");
  if (c == 0x66) return literal(b, i, "false");
  if (c == 0x6e) return literal(b, i, "null");
  if (c == 0x2d || (c >= 0x30 && c <= 0x39)) return scanNumber(b, i);
  return -1;
}

function literal(b: Uint8Array, i: i32, lit: string): i32 {
  if (b.length - i < lit.length) return -1;
  for (let k = 0; k < lit.length; k++) {
    if (<i32>b[i + k] != lit.charCodeAt(k)) return -1;
  }
  return i + lit.length;
}

function isDigit(b: Uint8Array, i: i32): bool {
  return i < b.length && b[i] >= 0x30 && b[i] <= 0x39;
}

function scanNumber(b: Uint8Array, i: i32): i32 {
  if (b[i] == 0x2d) i++;
  if (i < b.length && b[i] == 0x30) {
    i++;
  } else if (i < b.length && b[i] >= 0x31 && b[i] <= 0x39) {
    while (isDigit(b, i)) i++;
  } else {
    return -1;
  }
  if (i < b.length && b[i] == 0x2e) {
    i++;
    const d = i;
    while (isDigit(b, i)) i++;
    if (i == d) return -1;
  }
  if (i < b.length && (b[i] == 0x65 || b[i] == 0x45)) {
    i++;
    if (i < b.length && (b[i] == 0x2b || b[i] == 0x2d)) i++;
    const d = i;
    while (isDigit(b, i)) i++;
    if (i == d) return -1;
  }
  return i;
}

function hexVal(c: u8): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return c - 0x41 + 10;
}

function hex4(b: Uint8Array, i: i32): i32 {
  return (hexVal(b[i]) << 12) | (hexVal(b[i + 1]) << 8) | (hexVal(b[i + 2]) << 4) | hexVal(b[i + 3]);
}

// unquoteRange decodes the inside b[start:end] of a scanned JSON string: a
// view of b when it has no escapes, new bytes otherwise. A lone surrogate
// escape becomes U+FFFD, as in Go.
function unquoteRange(b: Uint8Array, start: i32, end: i32): Uint8Array {
  let k = start;
  while (k < end && b[k] != 0x5c) k++;
  if (k == end) return b.subarray(start, end);
  const out = new Buf(end - start);
  for (let i = start; i < end; i++) {
    const c = b[i];
    if (c != 0x5c) {
      out.byte(c);
      continue;
    }
    i++;
    const e = b[i];
    if (e == 0x62) out.byte(0x08);
    else if (e == 0x66) out.byte(0x0c);
    else if (e == 0x6e) out.byte(0x0a);
    else if (e == 0x72) out.byte(0x0d);
    else if (e == 0x74) out.byte(0x09);
    else if (e == 0x75) {
      let r = hex4(b, i + 1);
      i += 4;
      if (r >= 0xd800 && r < 0xdc00 && i + 6 < end && b[i + 1] == 0x5c && b[i + 2] == 0x75) {
        const r2 = hex4(b, i + 3);
        if (r2 >= 0xdc00 && r2 < 0xe000) {
          r = ((r - 0xd800) << 10) + (r2 - 0xdc00) + 0x10000;
          i += 6;
        }
      }
      out.rune(r);
    } else out.byte(e); // " \ /
  }
  return out.view();
}

const HEX = "0123456789abcdef";

/**
 * Buf builds output bytes (event data, state values) without a JSON
 * library. Reuse one Buf per plugin: reset() it at the start of each
 * output; the host copies what it is given, so the same Buf can build the
 * next output right after an emit or set.
 */
export class Buf {
  private data: Uint8Array;
  /** The number of bytes written. */
  length: i32 = 0;

  constructor(capacity: i32 = 256) {
    this.data = new Uint8Array(capacity > 0 ? capacity : 16);
  }

  /** Empties the buffer, keeping its memory. */
  reset(): Buf {
    this.length = 0;
    return this;
  }

  private reserve(n: i32): void {
    const need = this.length + n;
    if (need <= this.data.length) return;
    let cap = this.data.length * 2;
    if (cap < need) cap = need;
    const d = new Uint8Array(cap);
    memory.copy(d.dataStart, this.data.dataStart, this.length);
    this.data = d;
  }

  /** Appends one byte. */
  byte(c: u8): Buf {
    this.reserve(1);
    this.data[this.length++] = c;
    return this;
  }

  /** Appends the UTF-8 bytes of s (raw, not quoted: use it for JSON punctuation and keys). */
  str(s: string): Buf {
    const n = String.UTF8.byteLength(s);
    this.reserve(n);
    String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, this.data.dataStart + this.length);
    this.length += n;
    return this;
  }

  /** Appends b[start:end]. */
  bytes(b: Uint8Array, start: i32 = 0, end: i32 = -1): Buf {
    if (end < 0) end = b.length;
    const n = end - start;
    if (n <= 0) return this;
    this.reserve(n);
    memory.copy(this.data.dataStart + this.length, b.dataStart + start, n);
    this.length += n;
    return this;
  }

  /** Appends the decimal text of n. */
  int(n: i64): Buf {
    return this.str(n.toString());
  }

  /** Appends true or false. */
  bool(v: bool): Buf {
    return this.str(v ? "true" : "false");
  }

  /** Appends the UTF-8 encoding of the code point r (U+FFFD for a surrogate or out of range). */
  rune(r: i32): Buf {
    if ((r >= 0xd800 && r < 0xe000) || r < 0 || r > 0x10ffff) r = 0xfffd;
    if (r < 0x80) return this.byte(<u8>r);
    if (r < 0x800) return this.byte(<u8>(0xc0 | (r >> 6))).byte(<u8>(0x80 | (r & 0x3f)));
    if (r < 0x10000) {
      return this.byte(<u8>(0xe0 | (r >> 12)))
        .byte(<u8>(0x80 | ((r >> 6) & 0x3f)))
        .byte(<u8>(0x80 | (r & 0x3f)));
    }
    return this.byte(<u8>(0xf0 | (r >> 18)))
      .byte(<u8>(0x80 | ((r >> 12) & 0x3f)))
      .byte(<u8>(0x80 | ((r >> 6) & 0x3f)))
      .byte(<u8>(0x80 | (r & 0x3f)));
  }

  /**
   * Appends s (UTF-8 bytes) as a quoted JSON string, escaped as
   * jsonlite.AppendString does: ", \, \n, \r, \t, other controls as \u00XX,
   * U+2028/U+2029 as \u2028/\u2029, invalid UTF-8 as U+FFFD.
   */
  jsonString(s: Uint8Array): Buf {
    this.byte(0x22);
    let start = 0;
    let i = 0;
    while (i < s.length) {
      const c = s[i];
      if (c >= 0x20 && c != 0x22 && c != 0x5c && c < 0x80) {
        i++;
        continue;
      }
      if (c < 0x80) {
        this.bytes(s, start, i);
        if (c == 0x22 || c == 0x5c) this.byte(0x5c).byte(c);
        else if (c == 0x0a) this.str("\\n");
        else if (c == 0x0d) this.str("\\r");
        else if (c == 0x09) this.str("\\t");
        else this.str("\\u00").byte(<u8>HEX.charCodeAt(c >> 4)).byte(<u8>HEX.charCodeAt(c & 0xf));
        i++;
        start = i;
        continue;
      }
      const r = decodeRune(s, i);
      if (r == 0xfffd && runeSize == 1) {
        this.bytes(s, start, i);
        this.rune(0xfffd);
        i++;
        start = i;
        continue;
      }
      if (r == 0x2028 || r == 0x2029) {
        this.bytes(s, start, i);
        this.str(r == 0x2028 ? "\\u2028" : "\\u2029");
        i += runeSize;
        start = i;
        continue;
      }
      i += runeSize;
    }
    this.bytes(s, start, s.length);
    return this.byte(0x22);
  }

  /** Appends the string s as a quoted JSON string (see jsonString). */
  jsonStringOf(s: string): Buf {
    return this.jsonString(utf8(s));
  }

  /** A view of the bytes written (valid until the next write or reset). */
  view(): Uint8Array {
    return this.data.subarray(0, this.length);
  }

  /** The bytes written, decoded as UTF-8. */
  toString(): string {
    return String.UTF8.decodeUnsafe(this.data.dataStart, this.length);
  }
}
