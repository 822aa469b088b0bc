// memcheck runs an AssemblyScript poll module under Node's WebAssembly
// with a minimal stand-in for the host (state in a Map, emits counted;
// votes are not stored, so every student may vote) and prints the linear
// memory size before and after N votes and joins, for TestMemoryStaysFlat:
//
//   node memcheck.mjs poll-as.wasm [N]
import fs from 'fs';
const bytes = fs.readFileSync(process.argv[2]);
let mem; const state = new Map(); const dec = new TextDecoder(), enc = new TextEncoder();
const s = (p, n) => dec.decode(new Uint8Array(mem.buffer, p, n));
let emits = 0;
const imports = { classgate_v1: {
  log: (l, p, n) => console.error('LOG', l, s(p, n)),
  state_get: (kp, kn, bp, bc) => { const k = s(kp, kn); if (!state.has(k)) return -1; const v = state.get(k); if (v.length <= bc) new Uint8Array(mem.buffer, bp, v.length).set(v); return v.length; },
  state_set: (kp, kn, vp, vn) => { const k = s(kp, kn); if (!k.startsWith('v:')) state.set(k, new Uint8Array(mem.buffer, vp, vn).slice()); return 0; },
  state_clear: () => { state.clear(); return 0; },
  reject: (p, n) => { console.error('REJECT', s(p, n)); return 0; },
  forbid: (p, n) => 0,
  emit: () => { emits++; return 0; },
}, wasi_snapshot_preview1: { fd_write: () => 0 } };
const { instance } = await WebAssembly.instantiate(bytes, imports);
const ex = instance.exports; mem = ex.memory; ex._initialize();
function put(b) { const p = ex.cg_alloc(b.length); new Uint8Array(mem.buffer, p, b.length).set(b); return p; }
let cfg = enc.encode('{}'); ex.cg_init(put(cfg), cfg.length);
function rec(hook, type, role, id, data) {
  const f = ['poll', type, 'r1', 'c-' + id, id, id, role, data].map(x => enc.encode(x));
  const b = new Uint8Array(88 + f.reduce((a, b) => a + b.length, 0)); const dv = new DataView(b.buffer);
  dv.setUint32(0, 1, true); dv.setUint32(4, hook, true); let off = 88;
  f.forEach((x, i) => { dv.setUint32(24 + 8 * i, off, true); dv.setUint32(28 + 8 * i, x.length, true); b.set(x, off); off += x.length; });
  return b;
}
function call(...a) { const b = rec(...a); const p = ex.cg_alloc(b.length); new Uint8Array(mem.buffer, p, b.length).set(b); return ex.cg_handle(p, b.length); }
call(0, 'poll.open', 'teacher', 't1', '{"question":"Q","options":["a","b","c","d","e","f","g","h","i","j"]}');
const n = Number(process.argv[3] || 20000);
const start = mem.buffer.byteLength;
for (let i = 0; i < n; i++) {
  if (call(0, 'poll.vote', 'student', 's' + i, '{"choice":' + (i % 10) + '}') != 0) throw 'fail';
  if (i % 100 == 0) call(1, '', 'student', 'x' + i, '');
}
const tally = dec.decode(state.get('t'));
console.log(JSON.stringify({start, end: mem.buffer.byteLength, emits, tally}));
