// Compiled (not run) by TestTypeCheckJS: the typed event maps of
// classgate.d.ts give listeners their payload types. The @ts-expect-error
// lines fail the check if the types stop catching those mistakes.
import { Client, ClassgateError, Room, DEFAULTS } from '../static/classgate.js';

const c = new Client({ url: 'ws://gw/ws', token: async () => 'jwt', pingInterval: DEFAULTS.pingInterval });
const math: Room = c.room('math-7');
math.on('chat.message', (f) => {
  const text: string | undefined = f.data?.text;
  void text;
});
math.once('whiteboard.snapshot', (f) => {
  const n: number | undefined = f.data?.elements.length;
  void n;
});
c.on('state', (s) => {
  const auth: boolean | undefined = s.auth;
  void auth;
});
c.on('error', (e) => {
  if (e instanceof ClassgateError && e.code === 'unauthorized') c.connect();
});
void math.send('chat.send', { text: 'hi' }).then((a) => a.seq);

// @ts-expect-error chat text is a string
math.on('chat.message', (f) => { const n: number | undefined = f.data?.text; void n; });
// @ts-expect-error a cursor has x and y, not text
c.on('whiteboard.cursor', (f) => { const t: string | undefined = f.data?.text; void t; });

// off() takes the listener on() took, typed by the event map.
const onMsg = (f: Parameters<Parameters<typeof math.on<'chat.message'>>[1]>[0]) => void f.data?.text;
math.on('chat.message', onMsg);
math.off('chat.message', onMsg);
c.off('chat.message', onMsg);
const onHistory = (f: { data?: { messages: Array<{ seq: number; ts?: number }> } }) => void f.data?.messages[0]?.ts;
math.on('chat.history', onHistory);
math.off('chat.history', onHistory);
// @ts-expect-error a state listener is not a chat.message listener
math.off('chat.message', (s: { state: string; attempt: number }) => void s.attempt);
math.on('whiteboard.snapshot', (f) => {
  const clear: boolean | undefined = f.data?.can?.clear;
  void clear;
});
