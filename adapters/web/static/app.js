// @ts-check
/**
 * The classroom page: whiteboard, chat, presence, on top of classgate.js.
 *
 * Sign-in: `?token=<JWT>&room=<id>` in the URL, or a session kept in this
 * tab (sessionStorage, so a reload stays signed in), or — in dev mode — the
 * form, which fetches a token from the gateway's `GET /dev/token`.
 * `?ws=wss://…` points the page at another WebSocket endpoint (e.g. an API
 * Gateway stage URL). The client's options follow the deployment behind it
 * (classgate.js DEPLOYMENTS: behind API Gateway a ping after 5 minutes of
 * quiet, not 10 s): `?deployment=standalone|apigateway`, else by the
 * WebSocket URL's host (deploymentOf: API Gateway's own execute-api names).
 *
 * Whiteboard elements (stored opaquely by the whiteboard plugin, by id) use
 * a logical board of {@link BOARD_W}×{@link BOARD_H} units, whatever the
 * screen size:
 *
 *   { id, kind: "stroke"|"line"|"rect"|"ellipse"|"text",
 *     points: [[x, y], …]   integers; stroke: the path, line/rect/ellipse:
 *                           two corners, text: the baseline start
 *     color: "#rrggbb", width: 1…40, text?: string, size?: font px }
 *
 * Test hooks: `window.classroom` (see the bottom of this file) and
 * `data-testid` attributes on every control.
 *
 * @module app
 */

import { Client, ClassgateError, AUTH_ERROR_CODES, DEPLOYMENTS, deploymentOf } from './classgate.js';

/** Logical board size: element coordinates are in these units. */
export const BOARD_W = 1600;
export const BOARD_H = 1000;

const COLORS = ['#1d2330', '#c8322d', '#2f6fed', '#1f9d55', '#d98e04', '#8e44ad'];
const CURSOR_SEND_MS = 80; // at most ~12 cursor frames per second
const CURSOR_TTL_MS = 5000; // hide a silent cursor
const TYPING_SEND_MS = 2000;
const TYPING_SHOW_MS = 3500;
/** Below this width board, chat and people are tabs (app.css's media query). */
const NARROW = matchMedia('(max-width: 899px)');
const MAX_STROKE_POINTS = 800; // longer strokes are split into several elements
const MAX_CHAT = 500;
const SESSION_KEY = 'classgate.session';
const OFFLINE_CHECK_MS = 5000; // deadline of the ping sent on `offline` / back to the front

/**
 * @typedef {{id: string, name?: string, role?: string}} User
 * @typedef {{id: string, kind: string, points: number[][], color?: string,
 *   width?: number, text?: string, size?: number}} Element
 * @typedef {{seq: number, from: User, text: string, ts: number,
 *   pending?: boolean, failed?: boolean, code?: string, cid?: string,
 *   matched?: number, retriedSameId?: boolean}} ChatMessage
 * @typedef {{id: string, name: string, role: string, status: string}} Person
 * @typedef {{token: string, room: string, name?: string, role?: string, dev?: boolean}} Session
 */

// ------------------------------------------------------------------ utils

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/**
 * @param {string} tag
 * @param {Record<string, string>} [attrs]
 * @param {(Node|string)[]} [children]
 */
function h(tag, attrs = {}, children = []) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') el.className = v;
    else el.setAttribute(k, v);
  }
  for (const c of children) el.append(c); // text via append: never HTML
  return el;
}

/**
 * A user from a frame: the protocol's object, or a bare id.
 * @param {any} u
 * @returns {User}
 */
function asUser(u) {
  if (!u) return { id: '' };
  if (typeof u === 'string') return { id: u };
  return { id: String(u.id ?? ''), name: u.name, role: u.role };
}

/** Random id for elements and chat; fine over plain http (no crypto.randomUUID). */
function rid() {
  return Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
}

/**
 * Seconds-resolution expiry of a JWT (0 when unreadable).
 * @param {string} jwt
 */
function tokenExp(jwt) {
  try {
    const p = JSON.parse(atob(jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    return typeof p.exp === 'number' ? p.exp : 0;
  } catch {
    return 0;
  }
}

/** Stable colour for a user's cursor. @param {string} id */
function userColor(id) {
  let x = 0;
  for (const ch of id) x = (x * 31 + ch.charCodeAt(0)) >>> 0;
  // Dark enough for white label text at every hue (≥ 4.5:1, WCAG AA).
  return `hsl(${x % 360} 65% 28%)`;
}

// ------------------------------------------------------------------ state

const params = new URLSearchParams(location.search);
const wsURL = params.get('ws') || `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
/**
 * The deployment behind wsURL, whose client options the page uses, and the
 * error of a `?deployment=` the page does not know (then shown, and the
 * deployment taken from the URL).
 */
const deployment = (() => {
  try {
    return { name: deploymentOf(wsURL, params.get('deployment')), error: '' };
  } catch (err) {
    return { name: deploymentOf(wsURL), error: err instanceof Error ? err.message : String(err) };
  }
})();

/** @type {Session | null} */
let session = null;
/** @type {Client | null} */
let client = null;

const S = {
  /** @type {User | null} */ me: null,
  /** Narrow screens: the tab shown. @type {'board' | 'chat' | 'people'} */
  tab: 'board',
  /** Chat messages from others received while the chat tab was not shown. */
  unread: 0,
  /**
   * What the whiteboard lets this user do (from the snapshot; null until
   * then). @type {{clear: boolean, eraseAny: boolean, eraseOwn: boolean} | null}
   */
  can: null,
  /** Element id → the user id that drew it (from draw events). @type {Map<string, string>} */
  owners: new Map(),
  /** How many of the newest chat lines are rendered (grows by CHAT_PAGE). */
  chatShown: 50,
  /** Raised hands at the last render, and chimes played (teachers). */
  hands: 0,
  chimes: 0,
  /** @type {any} */ audio: null,
  room: '',
  /** Plugin namespaces enabled in the room (from `joined`). @type {string[]} */
  features: [],
  /** Whiteboard: committed elements in draw order, as of board.seq. */
  board: { seq: 0, /** @type {Map<string, Element>} */ elements: new Map() },
  /** Elements drawn here and not acknowledged yet. @type {Map<string, Element>} */
  pendingEls: new Map(),
  /** Element being drawn. @type {Element | null} */
  draft: null,
  /** Chat by seq, plus local messages not acknowledged yet. */
  chat: /** @type {Map<number, ChatMessage>} */ (new Map()),
  /** @type {ChatMessage[]} */ chatPending: [],
  /** @type {Map<string, Person>} */ people: new Map(),
  /** @type {Map<string, {name: string, until: number}>} */ typing: new Map(),
  /** @type {Map<string, {name: string, x: number, y: number, at: number, el: HTMLElement}>} */
  cursors: new Map(),
  tool: 'pen',
  color: COLORS[0],
  width: 4,
  /** Errors shown to the user, newest last (for tests). @type {{code: string, message: string}[]} */
  errors: [],
  /** While set, reconnects wait (test hook: a deterministic offline window). */
  /** @type {Promise<void> | null} */ hold: null,
  /** @type {(() => void) | null} */ release: null,
  /** The browser says it has no network (navigator.onLine false). */
  offline: typeof navigator !== 'undefined' && navigator.onLine === false,
  /** Why the session ended (an auth error code), '' while signed in. */
  signedOut: '',
  /** @type {import('./classgate.js').StateEvent | null} */ lastState: null,
  /** History notices shown (for tests). @type {{reason: string, at: number}[]} */
  notices: [],
  /** Auth error codes reported by the client (for tests). @type {string[]} */
  authErrors: [],
};

// ----------------------------------------------------------------- session

function loadSession() {
  const t = params.get('token');
  if (t) return { token: t, room: params.get('room') || 'demo' };
  try {
    const raw = sessionStorage.getItem(SESSION_KEY);
    if (raw) {
      const s = JSON.parse(raw);
      if (s && typeof s.token === 'string' && typeof s.room === 'string') return s;
    }
  } catch {
    /* storage unavailable */
  }
  return null;
}

/** @param {Session | null} s */
function saveSession(s) {
  try {
    if (s) sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
    else sessionStorage.removeItem(SESSION_KEY);
  } catch {
    /* storage unavailable: the session lasts until reload */
  }
}

/**
 * @param {string} name
 * @param {string} role
 * @returns {Promise<string>}
 */
async function fetchDevToken(name, role) {
  const res = await fetch(`/dev/token?name=${encodeURIComponent(name)}&role=${encodeURIComponent(role)}`, {
    cache: 'no-store',
  });
  if (res.status === 404) {
    throw new Error('This gateway issues no development tokens. Open the page with ?token=<JWT>&room=<room>.');
  }
  if (!res.ok) throw new Error(`token request failed: HTTP ${res.status}`);
  const body = await res.json();
  if (!body || typeof body.token !== 'string') throw new Error('token response without token');
  return body.token;
}

/** Token for each (re)connect; dev sessions renew an expiring token. */
async function currentToken() {
  if (S.hold) await S.hold;
  const s = /** @type {Session} */ (session);
  if (s.dev && s.name && s.role) {
    const exp = tokenExp(s.token);
    // Renew within the client's refresh window (refreshBefore, 60 s) and a
    // margin for late timers.
    if (exp && exp * 1000 - Date.now() < 90000) {
      s.token = await fetchDevToken(s.name, s.role);
      saveSession(s);
    }
  }
  return s.token;
}

/**
 * The sign-in form. With prev (signing in again after the session ended)
 * it is prefilled, and a sign-in to the same room resumes the classroom in
 * place: rooms re-joined with since, unanswered messages sent again.
 * @param {Session} [prev]
 */
function showLogin(prev) {
  $('classroom').hidden = true;
  $('login').hidden = false;
  const form = /** @type {HTMLFormElement} */ ($('login-form'));
  const r = prev?.room || params.get('room');
  if (r) /** @type {HTMLInputElement} */ ($('login-room')).value = r;
  if (prev?.name) /** @type {HTMLInputElement} */ ($('login-name')).value = prev.name;
  if (prev?.role) {
    const radio = /** @type {HTMLInputElement | null} */ (form.querySelector(`input[name=role][value="${prev.role}"]`));
    if (radio) radio.checked = true;
  }
  $('login-again').hidden = !prev;
  form.onsubmit = async (e) => {
    e.preventDefault();
    const fd = new FormData(form);
    const name = String(fd.get('name') || '').trim();
    const role = String(fd.get('role') || 'student');
    const room = String(fd.get('room') || '').trim();
    const errEl = $('login-error');
    errEl.textContent = '';
    const btn = /** @type {HTMLButtonElement} */ ($('login-submit'));
    btn.disabled = true;
    try {
      const token = await fetchDevToken(name, role);
      session = { token, room, name, role, dev: true };
      saveSession(session);
      if (client && room === S.room) {
        $('login').hidden = true;
        $('classroom').hidden = false;
        client.connect(); // resume; the token function reads the new session
      } else if (client) {
        location.href = location.pathname; // another room: a fresh page
      } else {
        start();
      }
    } catch (err) {
      errEl.textContent = err instanceof Error ? err.message : String(err);
    } finally {
      btn.disabled = false;
    }
  };
}

// ------------------------------------------------------------- connection

function start() {
  const s = /** @type {Session} */ (session);
  S.room = s.room;
  $('login').hidden = true;
  $('classroom').hidden = false;
  $('room-name').textContent = `# ${s.room}`;
  document.title = `${s.room} — classgate`;
  resizeBoard();

  const c = new Client({ url: wsURL, token: currentToken, ...DEPLOYMENTS[deployment.name] });
  if (deployment.error) showError({ code: 'bad_request', message: `?deployment=: ${deployment.error}; using ${deployment.name}` });
  client = c;
  c.on('state', onState);
  c.on('joined', (f) => {
    S.me = asUser(f.user);
    S.features = Array.isArray(f.features) ? f.features : [];
    $('me').textContent = `${S.me.name || S.me.id} (${S.me.role || 'member'})`;
    const teacher = S.me.role === 'teacher';
    applyRights();
    // Teachers do not raise hands: the button is for students.
    $('hand').hidden = teacher;
    document.body.dataset.role = S.me.role || '';
  });
  c.on('resync', ({ room, reason }) => {
    if (room !== S.room) return;
    // Missed events are gone: the join state that follows is the truth.
    S.board.seq = 0;
    S.board.elements.clear();
    S.chat.clear();
    // Local messages waiting for an answer are shown again until their
    // broadcast (or ack) comes in the new history.
    for (const m of S.chatPending) m.matched = undefined;
    showHistoryNotice(reason);
    renderAll();
  });
  c.on('message', onFrame);
  c.on('error', (err) => {
    if (err instanceof ClassgateError && AUTH_CODES.has(err.code)) {
      showSignedOut(err.code);
      return;
    }
    console.warn('classgate:', err); // eslint-disable-line no-console
  });
  c.connect();
  c.join(s.room).catch((err) => {
    if (err instanceof ClassgateError && AUTH_CODES.has(err.code)) return; // shown by the error event
    showError(err);
    if (err instanceof ClassgateError && err.code === 'forbidden') {
      setConn('closed', `not allowed in ${s.room}`);
    }
  });
}

/**
 * Error codes after which a send may have been applied all the same (the
 * ack waited for Redis replicas that did not confirm in time): such a
 * message is still matched with its broadcast, and retried with its id.
 */
const AMBIGUOUS_CODES = new Set(['internal']);

/** Codes with which the client stops because of the token (see classgate.js). */
const AUTH_CODES = /** @type {Set<string>} */ (new Set(Object.values(AUTH_ERROR_CODES)));

/**
 * The room's history was reset or could not be replayed: say so, rather
 * than let chat and board change silently.
 * @param {string} reason `reset` (the server lost the room's history, e.g.
 *   a restart) or `history` (too much was missed to replay)
 */
function showHistoryNotice(reason) {
  const text =
    reason === 'reset'
      ? 'The server lost this class\'s history (for example after a restart): earlier messages and drawings may be gone.'
      : 'You were away longer than the server keeps history: the board and chat were reloaded and may miss some events.';
  const n = $('history-notice');
  n.dataset.reason = reason;
  $('history-notice-text').textContent = text;
  n.hidden = false;
  S.notices.push({ reason, at: Date.now() });
}

/**
 * The session ended because of the token (refused, expired) or a removal:
 * stop the input, and offer to sign in again.
 * @param {string} code
 */
function showSignedOut(code) {
  S.signedOut = code;
  S.authErrors.push(code);
  const text =
    code === 'unauthorized'
      ? 'The server did not accept your sign-in.'
      : code === 'token_expired'
        ? 'Your session has expired.'
        : code === 'removed'
          ? 'You were removed from this class.'
          : 'The server closed your session.';
  $('signed-out-text').textContent = text;
  $('signed-out').hidden = false;
  setInputEnabled(false);
  setConn('closed', code === 'removed' ? 'removed' : 'signed out');
  exposeState();
}

/** @param {boolean} on */
function setInputEnabled(on) {
  for (const id of ['chat-input', 'chat-send', 'hand', 'clear']) {
    /** @type {HTMLButtonElement} */ ($(id)).disabled = !on;
  }
  for (const b of document.querySelectorAll('#toolbar button, #toolbar select')) {
    /** @type {HTMLButtonElement} */ (b).disabled = !on;
  }
  $('board-wrap').toggleAttribute('inert', !on);
  document.body.dataset.input = on ? 'enabled' : 'disabled';
}

/** Sign in again after the session ended: the form, then resume. */
function signInAgain() {
  const s = session;
  showLogin(s || undefined);
}

/** @param {import('./classgate.js').StateEvent} ev */
function onState(ev) {
  switch (ev.state) {
    case 'closed':
      // A dev session whose token expired renews it and comes back by
      // itself; other auth stops are shown by the error event.
      if (ev.auth && ev.reason === 'token_expired' && session?.dev) {
        setTimeout(() => client?.connect(), 500);
      }
      break;
    case 'open':
    case 'resynced':
      if (S.signedOut) {
        S.signedOut = '';
        $('signed-out').hidden = true;
        setInputEnabled(true);
      }
      break;
  }
  S.lastState = ev;
  renderConn();
  exposeState();
}

/**
 * The indicator says what is true: connected only with an open connection
 * (checked by pings), offline when the browser has no network, otherwise
 * connecting / reconnecting, or why it stopped.
 */
function renderConn() {
  const ev = S.lastState;
  const st = client?.state || 'idle';
  if (S.signedOut) {
    setConn('closed', S.signedOut === 'removed' ? 'removed' : 'signed out');
  } else if (st === 'open') {
    setConn('open', S.offline ? 'offline?' : 'connected');
    if (S.offline) $('conn').dataset.state = 'offline';
  } else if (st === 'closed') {
    setConn('closed', `closed (${ev?.code ?? ''})`);
  } else if (S.offline) {
    setConn('offline', 'offline — waiting for the network');
  } else if (st === 'reconnecting') {
    setConn('reconnecting', `reconnecting (${ev?.attempt ?? 1})…`);
  } else {
    setConn('connecting', 'connecting…');
  }
}

/**
 * @param {string} state
 * @param {string} text
 */
function setConn(state, text) {
  const el = $('conn');
  el.dataset.state = state;
  $('conn-text').textContent = text;
}

function exposeState() {
  document.body.dataset.conn = client?.state || 'idle';
}

// The browser's own view of the network: `offline` is shown at once and the
// connection checked (a ping; a dead link is replaced); `online` reconnects
// now instead of waiting for the backoff. A page brought back to the front
// (phones suspend background tabs) checks its connection too.
window.addEventListener('online', () => {
  S.offline = false;
  renderConn();
  client?.checkConnection();
});
window.addEventListener('offline', () => {
  S.offline = true;
  renderConn();
  client?.checkConnection(OFFLINE_CHECK_MS);
});
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') client?.checkConnection(OFFLINE_CHECK_MS);
});
// A frozen page (Page Lifecycle: phones and tab discarding freeze background
// pages, timers included) checks its connection when it resumes.
document.addEventListener('resume', () => client?.checkConnection(OFFLINE_CHECK_MS));

/** @param {import('./classgate.js').Frame} f */
function onFrame(f) {
  if (f.room !== S.room) return;
  const d = f.data || {};
  switch (f.type) {
    // ---- whiteboard
    case 'whiteboard.snapshot':
      applySnapshot(d);
      break;
    case 'whiteboard.draw':
    case 'whiteboard.erase':
    case 'whiteboard.clear':
      applyBoardEvent(f);
      break;
    case 'whiteboard.cursor':
      onCursor(f);
      break;
    // ---- chat
    case 'chat.history':
      for (const m of Array.isArray(d.messages) ? d.messages : []) addChat(m);
      renderChat();
      break;
    case 'chat.message':
      if (S.tab !== 'chat' && f.from && asUser(f.from).id !== S.me?.id && !S.chat.has(Number(f.seq))) {
        S.unread++;
        renderUnread();
      }
      addChat({ seq: f.seq, from: f.from, text: d.text, ts: f.ts });
      if (f.from) S.typing.delete(asUser(f.from).id);
      renderChat();
      renderTyping();
      break;
    case 'chat.typing':
      onTyping(f);
      break;
    // ---- presence
    case 'presence.state':
      S.people.clear();
      for (const u of Array.isArray(d.users) ? d.users : []) upsertPerson(u, u.status);
      renderPresence();
      break;
    case 'presence.join':
      upsertPerson(d.user ?? f.from, undefined);
      renderPresence();
      break;
    case 'presence.leave': {
      const u = asUser(d.user ?? f.from);
      S.people.delete(u.id);
      removeCursor(u.id);
      renderPresence();
      break;
    }
    case 'presence.update':
      upsertPerson(d.user ?? f.from, typeof d.status === 'string' ? d.status : '');
      renderPresence();
      break;
  }
}

// ------------------------------------------------------------- whiteboard

/** @param {any} d */
function applySnapshot(d) {
  const seq = typeof d.seq === 'number' ? d.seq : 0;
  if (d.can && typeof d.can === 'object') {
    // What this user's role may do, as the whiteboard plugin is configured.
    S.can = { clear: d.can.clear === true, eraseAny: d.can.erase_any === true, eraseOwn: d.can.erase_own === true };
    applyRights();
  }
  if (seq < S.board.seq) return; // older than what we already applied
  S.board.seq = seq;
  S.board.elements.clear();
  for (const el of Array.isArray(d.elements) ? d.elements : []) {
    if (el && typeof el.id === 'string') S.board.elements.set(el.id, el);
  }
  for (const id of S.board.elements.keys()) S.pendingEls.delete(id);
  for (const id of S.owners.keys()) if (!S.board.elements.has(id)) S.owners.delete(id);
  scheduleRender();
}

/**
 * Shows only the board actions this user may take: Clear, and the eraser
 * (hidden when the user may erase nothing). Before the first snapshot (or
 * from a whiteboard plugin that does not say), teachers clear and everyone
 * erases, and the server's answer decides.
 */
function applyRights() {
  const teacher = S.me?.role === 'teacher';
  $('clear').hidden = !(S.can ? S.can.clear : teacher);
  const eraser = S.can ? S.can.eraseAny || S.can.eraseOwn : true;
  /** @type {HTMLElement} */ (document.querySelector('[data-tool=eraser]')).hidden = !eraser;
  if (!eraser && S.tool === 'eraser') setTool('pen');
}

/**
 * Whether this user may erase el: anyone's with erase_any, their own (drawn
 * here, or by the same user elsewhere) with erase_own.
 * @param {Element} el
 */
function mayErase(el) {
  if (!S.can || S.can.eraseAny) return true;
  if (!S.can.eraseOwn) return false;
  const me = S.me?.id || '';
  const owner = S.owners.get(el.id) ?? (S.pendingEls.has(el.id) || el.id.startsWith(me + '-') ? me : '');
  return owner === me;
}

/** @param {import('./classgate.js').Frame} f */
function applyBoardEvent(f) {
  if (typeof f.seq === 'number') {
    // The snapshot already contains everything up to its seq.
    if (f.seq <= S.board.seq) return;
    S.board.seq = f.seq;
  }
  const d = f.data || {};
  if (f.type === 'whiteboard.draw') {
    const el = d.element;
    if (el && typeof el.id === 'string') {
      // The first drawer owns an element (a redraw keeps the owner).
      if (f.from && !S.owners.has(el.id)) S.owners.set(el.id, asUser(f.from).id);
      S.board.elements.set(el.id, el);
      S.pendingEls.delete(el.id);
    }
  } else if (f.type === 'whiteboard.erase') {
    S.board.elements.delete(d.id);
    S.pendingEls.delete(d.id);
    S.owners.delete(d.id);
  } else {
    S.board.elements.clear();
    S.owners.clear();
  }
  scheduleRender();
}

const canvas = /** @type {HTMLCanvasElement} */ ($('board'));
const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
let renderQueued = false;

function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderBoard();
  });
}

function resizeBoard() {
  const r = canvas.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(r.width * dpr));
  const hgt = Math.max(1, Math.round(r.height * dpr));
  if (canvas.width !== w || canvas.height !== hgt) {
    canvas.width = w;
    canvas.height = hgt;
  }
  renderBoard();
}
new ResizeObserver(resizeBoard).observe($('board-wrap'));

/** Elements to draw, in order: committed, then local pending, then the draft. */
function visibleElements() {
  const out = [...S.board.elements.values()];
  for (const [id, el] of S.pendingEls) if (!S.board.elements.has(id)) out.push(el);
  if (S.draft) out.push(S.draft);
  return out;
}

function renderBoard() {
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.setTransform(canvas.width / BOARD_W, 0, 0, canvas.height / BOARD_H, 0, 0);
  const els = visibleElements();
  for (const el of els) drawElement(el);
  canvas.dataset.elements = String(S.board.elements.size);
  canvas.dataset.seq = String(S.board.seq);
  describeBoard();
}

/**
 * A text description of the board for screen readers (the canvas itself
 * says nothing): how many drawings of which kinds, and the texts on it.
 */
function describeBoard() {
  /** @type {Record<string, number>} */
  const kinds = {};
  const texts = [];
  for (const el of S.board.elements.values()) {
    kinds[el.kind] = (kinds[el.kind] || 0) + 1;
    if (el.kind === 'text' && el.text) texts.push(String(el.text));
  }
  const names = /** @type {Record<string, string>} */ ({ stroke: 'drawing', line: 'line', rect: 'rectangle', ellipse: 'ellipse', text: 'text' });
  const parts = Object.entries(kinds).map(([k, n]) => `${n} ${names[k] || k}${n > 1 ? 's' : ''}`);
  const desc =
    parts.length === 0
      ? 'The board is empty.'
      : `The board has ${parts.join(', ')}.` + (texts.length ? ` Texts: ${texts.slice(0, 20).join('; ')}.` : '');
  const d = $('board-desc');
  if (d.textContent !== desc) d.textContent = desc;
}

/** @param {Element} el */
function drawElement(el) {
  const pts = Array.isArray(el.points) ? el.points : [];
  if (pts.length === 0) return;
  ctx.strokeStyle = ctx.fillStyle = typeof el.color === 'string' ? el.color : '#000';
  ctx.lineWidth = clamp(Number(el.width) || 2, 1, 40);
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  const [a, b] = [pts[0], pts[pts.length - 1]];
  ctx.beginPath();
  switch (el.kind) {
    case 'stroke':
      if (pts.length === 1) {
        ctx.arc(a[0], a[1], ctx.lineWidth / 2, 0, 2 * Math.PI);
        ctx.fill();
        return;
      }
      ctx.moveTo(a[0], a[1]);
      for (let i = 1; i < pts.length; i++) ctx.lineTo(pts[i][0], pts[i][1]);
      ctx.stroke();
      return;
    case 'line':
      ctx.moveTo(a[0], a[1]);
      ctx.lineTo(b[0], b[1]);
      ctx.stroke();
      return;
    case 'rect':
      ctx.rect(Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.abs(b[0] - a[0]), Math.abs(b[1] - a[1]));
      ctx.stroke();
      return;
    case 'ellipse': {
      const rx = Math.abs(b[0] - a[0]) / 2;
      const ry = Math.abs(b[1] - a[1]) / 2;
      ctx.ellipse((a[0] + b[0]) / 2, (a[1] + b[1]) / 2, rx, ry, 0, 0, 2 * Math.PI);
      ctx.stroke();
      return;
    }
    case 'text':
      ctx.font = `${clamp(Number(el.size) || 32, 8, 200)}px system-ui, sans-serif`;
      ctx.textBaseline = 'alphabetic';
      ctx.fillText(String(el.text ?? ''), a[0], a[1]);
      return;
    default:
      // Unknown kinds (from newer clients) are kept but not drawn.
      return;
  }
}

/**
 * @param {number} v
 * @param {number} lo
 * @param {number} hi
 */
const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

/**
 * Pointer position in board units.
 * @param {{clientX: number, clientY: number}} e
 * @returns {number[]}
 */
function boardPoint(e) {
  const r = canvas.getBoundingClientRect();
  return [
    Math.round(clamp(((e.clientX - r.left) / r.width) * BOARD_W, 0, BOARD_W)),
    Math.round(clamp(((e.clientY - r.top) / r.height) * BOARD_H, 0, BOARD_H)),
  ];
}

/**
 * The topmost element under p (board units) that ok accepts, or null.
 * @param {number[]} p
 * @param {(el: Element) => boolean} [ok]
 * @returns {Element | null}
 */
function hitTest(p, ok = () => true) {
  const els = visibleElements();
  for (let i = els.length - 1; i >= 0; i--) {
    if (hits(els[i], p) && ok(els[i])) return els[i];
  }
  return null;
}

/**
 * @param {Element} el
 * @param {number[]} p
 */
function hits(el, p) {
  const pts = el.points || [];
  if (!pts.length) return false;
  const tol = (Number(el.width) || 2) / 2 + 10;
  const [a, b] = [pts[0], pts[pts.length - 1]];
  switch (el.kind) {
    case 'stroke':
    case 'line':
      if (pts.length === 1) return Math.hypot(p[0] - a[0], p[1] - a[1]) <= tol;
      for (let i = 1; i < pts.length; i++) if (segDist(p, pts[i - 1], pts[i]) <= tol) return true;
      return false;
    case 'rect':
      return (
        p[0] >= Math.min(a[0], b[0]) - tol &&
        p[0] <= Math.max(a[0], b[0]) + tol &&
        p[1] >= Math.min(a[1], b[1]) - tol &&
        p[1] <= Math.max(a[1], b[1]) + tol
      );
    case 'ellipse': {
      const rx = Math.abs(b[0] - a[0]) / 2 + tol;
      const ry = Math.abs(b[1] - a[1]) / 2 + tol;
      const dx = p[0] - (a[0] + b[0]) / 2;
      const dy = p[1] - (a[1] + b[1]) / 2;
      return (dx * dx) / (rx * rx) + (dy * dy) / (ry * ry) <= 1;
    }
    case 'text': {
      const size = Number(el.size) || 32;
      ctx.font = `${size}px system-ui, sans-serif`;
      const w = ctx.measureText(String(el.text ?? '')).width;
      return p[0] >= a[0] - 4 && p[0] <= a[0] + w + 4 && p[1] >= a[1] - size && p[1] <= a[1] + size * 0.3;
    }
  }
  return false;
}

/**
 * Distance from p to segment ab.
 * @param {number[]} p
 * @param {number[]} a
 * @param {number[]} b
 */
function segDist(p, a, b) {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const len2 = dx * dx + dy * dy;
  const t = len2 ? clamp(((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2, 0, 1) : 0;
  return Math.hypot(p[0] - (a[0] + t * dx), p[1] - (a[1] + t * dy));
}

/** @param {string} kind @param {number[]} p @returns {Element} */
function newElement(kind, p) {
  return { id: `${S.me?.id || 'u'}-${rid()}`.slice(0, 64), kind, points: [p], color: S.color, width: S.width };
}

/**
 * Draw an element for everyone: shown at once, confirmed by the server.
 * @param {Element} el
 * @returns {Promise<{ok: boolean, seq?: number, code?: string}>}
 */
function commitElement(el) {
  if (!client) return Promise.resolve({ ok: false, code: 'closed' });
  S.pendingEls.set(el.id, el);
  scheduleRender();
  return client.send('whiteboard.draw', S.room, { element: el }).then(
    (ack) => {
      // The broadcast may come before or after the ack; either way the
      // element is on the board now.
      if (S.pendingEls.has(el.id) && (ack.seq === undefined || ack.seq > S.board.seq)) {
        S.board.elements.set(el.id, el);
      }
      S.pendingEls.delete(el.id);
      scheduleRender();
      return { ok: true, seq: ack.seq };
    },
    (err) => {
      S.pendingEls.delete(el.id);
      scheduleRender();
      showError(err);
      return { ok: false, code: err.code || 'error' };
    },
  );
}

/**
 * @param {string} id
 * @returns {Promise<{ok: boolean, seq?: number, code?: string}>}
 */
function eraseElement(id) {
  if (!client) return Promise.resolve({ ok: false, code: 'closed' });
  return client.send('whiteboard.erase', S.room, { id }).then(
    (ack) => {
      if (ack.seq === undefined || ack.seq > S.board.seq) S.board.elements.delete(id);
      scheduleRender();
      return { ok: true, seq: ack.seq };
    },
    (err) => {
      showError(err);
      return { ok: false, code: err.code || 'error' };
    },
  );
}

/** @returns {Promise<{ok: boolean, seq?: number, code?: string}>} */
function clearBoard() {
  if (!client) return Promise.resolve({ ok: false, code: 'closed' });
  return client.send('whiteboard.clear', S.room, {}).then(
    (ack) => ({ ok: true, seq: ack.seq }),
    (err) => {
      showError(err);
      return { ok: false, code: err.code || 'error' };
    },
  );
}

canvas.addEventListener('pointerdown', (e) => {
  if (e.button !== 0 || !client) return;
  const p = boardPoint(e);
  switch (S.tool) {
    case 'eraser': {
      const el = hitTest(p, mayErase);
      if (el) eraseElement(el.id);
      else if (hitTest(p)) showError({ code: 'forbidden', detail: 'you can erase only your own drawings' });
      return;
    }
    case 'text':
      openTextInput(e, p);
      return;
    case 'pen':
      S.draft = newElement('stroke', p);
      break;
    default:
      S.draft = newElement(S.tool, p);
      S.draft.points.push(p);
  }
  canvas.setPointerCapture(e.pointerId);
  e.preventDefault();
  scheduleRender();
});

canvas.addEventListener('pointermove', (e) => {
  const p = boardPoint(e);
  sendCursor(p);
  const d = S.draft;
  if (!d) return;
  if (d.kind === 'stroke') {
    const last = d.points[d.points.length - 1];
    if (Math.hypot(p[0] - last[0], p[1] - last[1]) < 2) return;
    d.points.push(p);
    if (d.points.length >= MAX_STROKE_POINTS) {
      // Keep frames small: send this part, go on with a new stroke.
      commitElement(d);
      S.draft = newElement('stroke', p);
    }
  } else {
    d.points[1] = p;
  }
  scheduleRender();
});

/** @param {PointerEvent} e */
function endDraft(e) {
  const d = S.draft;
  if (!d) return;
  S.draft = null;
  if (canvas.hasPointerCapture(e.pointerId)) canvas.releasePointerCapture(e.pointerId);
  if (d.kind !== 'stroke') {
    const [a, b] = d.points;
    if (Math.abs(a[0] - b[0]) < 3 && Math.abs(a[1] - b[1]) < 3) {
      scheduleRender(); // a click, not a shape
      return;
    }
  }
  commitElement(d);
}
canvas.addEventListener('pointerup', endDraft);
canvas.addEventListener('pointercancel', endDraft);

const textInput = /** @type {HTMLInputElement} */ ($('text-input'));
/** @type {number[] | null} */
let textAt = null;

/**
 * @param {PointerEvent} e
 * @param {number[]} p
 */
function openTextInput(e, p) {
  const r = canvas.getBoundingClientRect();
  textAt = p;
  textInput.hidden = false;
  textInput.value = '';
  textInput.style.left = `${Math.min(e.clientX - r.left, r.width - 170)}px`;
  textInput.style.top = `${Math.max(0, e.clientY - r.top - 18)}px`;
  setTimeout(() => textInput.focus(), 0);
}

textInput.addEventListener('keydown', (e) => {
  if (e.key === 'Enter') {
    const text = textInput.value.trim();
    if (text && textAt) {
      const el = newElement('text', textAt);
      el.text = text;
      el.size = 12 + S.width * 4;
      commitElement(el);
    }
    textInput.hidden = true;
    textAt = null;
  } else if (e.key === 'Escape') {
    textInput.hidden = true;
    textAt = null;
  }
});
textInput.addEventListener('blur', () => {
  textInput.hidden = true;
  textAt = null;
});

// ---- toolbar

/** @param {string} tool */
function setTool(tool) {
  S.tool = tool;
  // Not data-tool: the canvas must not match the tool buttons' selector.
  canvas.dataset.currentTool = tool;
  for (const b of document.querySelectorAll('button[data-tool]')) {
    b.setAttribute('aria-pressed', String(/** @type {HTMLElement} */ (b).dataset.tool === tool));
  }
}
for (const b of document.querySelectorAll('button[data-tool]')) {
  b.addEventListener('click', () => setTool(/** @type {string} */ (/** @type {HTMLElement} */ (b).dataset.tool)));
}
for (const c of COLORS) {
  const b = h('button', {
    type: 'button',
    'data-color': c,
    'data-testid': `color-${c.slice(1)}`,
    'aria-label': `colour ${c}`,
    'aria-pressed': String(c === S.color),
  });
  b.style.background = c;
  b.addEventListener('click', () => {
    S.color = c;
    for (const x of document.querySelectorAll('[data-color]')) {
      x.setAttribute('aria-pressed', String(/** @type {HTMLElement} */ (x).dataset.color === c));
    }
  });
  $('colors').append(b);
}
const widthSel = /** @type {HTMLSelectElement} */ ($('width'));
widthSel.addEventListener('change', () => {
  S.width = Number(widthSel.value) || 4;
});
$('clear').addEventListener('click', () => {
  if (confirm('Clear the board for everyone?')) clearBoard();
});
// Single-letter shortcuts only while the board has focus (WCAG 2.1.4):
// they never fire while typing or with a button focused.
canvas.addEventListener('keydown', (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const map = /** @type {Record<string, string>} */ ({ p: 'pen', l: 'line', r: 'rect', o: 'ellipse', t: 'text', e: 'eraser' });
  if (map[e.key]) setTool(map[e.key]);
});
setTool('pen');

// ---- cursors

let lastCursorSent = 0;
/** @type {number[] | null} */
let cursorQueued = null;
/** @type {any} */
let cursorTimer = null;

/** Throttled: at most one cursor frame per CURSOR_SEND_MS, the last position wins. @param {number[]} p */
function sendCursor(p) {
  cursorQueued = p;
  const wait = lastCursorSent + CURSOR_SEND_MS - Date.now();
  if (wait <= 0) {
    flushCursor();
  } else if (!cursorTimer) {
    cursorTimer = setTimeout(flushCursor, wait);
  }
}
function flushCursor() {
  cursorTimer = null;
  if (!cursorQueued || !client) return;
  client.notify('whiteboard.cursor', S.room, { x: cursorQueued[0], y: cursorQueued[1] });
  cursorQueued = null;
  lastCursorSent = Date.now();
}

/** @param {import('./classgate.js').Frame} f */
function onCursor(f) {
  const u = asUser(f.from);
  if (!u.id || u.id === S.me?.id) return;
  const x = Number(f.data?.x);
  const y = Number(f.data?.y);
  if (!Number.isFinite(x) || !Number.isFinite(y)) return;
  let c = S.cursors.get(u.id);
  const name = u.name || S.people.get(u.id)?.name || u.id;
  if (!c) {
    const el = h('div', { class: 'cursor', 'data-testid': 'cursor', 'data-user-id': u.id }, [
      h('span', { class: 'label' }, [name]),
    ]);
    el.style.setProperty('--cursor-color', userColor(u.id));
    $('cursors').append(el);
    c = { name, x, y, at: 0, el };
    S.cursors.set(u.id, c);
  }
  c.x = x;
  c.y = y;
  c.at = Date.now();
  c.el.hidden = false;
  c.el.style.left = `${(clamp(x, 0, BOARD_W) / BOARD_W) * 100}%`;
  c.el.style.top = `${(clamp(y, 0, BOARD_H) / BOARD_H) * 100}%`;
}

/** @param {string} id */
function removeCursor(id) {
  S.cursors.get(id)?.el.remove();
  S.cursors.delete(id);
}

setInterval(() => {
  const now = Date.now();
  for (const c of S.cursors.values()) if (now - c.at > CURSOR_TTL_MS) c.el.hidden = true;
  let changed = false;
  for (const [id, t] of S.typing) {
    if (t.until < now) {
      S.typing.delete(id);
      changed = true;
    }
  }
  if (changed) renderTyping();
}, 1000);

// ------------------------------------------------------------------- chat

/**
 * Add a message from the room (live, replayed or history), once per seq.
 * A message of mine that a local "sending" one is waiting for takes its
 * place: the broadcast carries no client id, so it is matched by author and
 * text with the oldest unanswered local message (the ack, which carries the
 * seq, confirms or corrects the match). One message is never shown twice.
 * @param {any} m
 */
function addChat(m) {
  if (!m || typeof m.seq !== 'number') return;
  if (S.chat.has(m.seq)) return; // history and live overlap: dedupe by seq
  const from = asUser(m.from);
  const text = String(m.text ?? '');
  S.chat.set(m.seq, { seq: m.seq, from, text, ts: Number(m.ts) || 0 });
  if (S.me && from.id === S.me.id) {
    const local = S.chatPending.find(
      (l) =>
        (!l.failed || AMBIGUOUS_CODES.has(l.code || '')) &&
        l.matched === undefined &&
        (l.seq === m.seq || (l.seq === 0 && l.text === text)),
    );
    if (local?.failed) {
      // An "internal" answer may come although the event went out (see
      // docs/PROTOCOL.md): its broadcast proves it did.
      S.chatPending = S.chatPending.filter((l) => l !== local);
    } else if (local) {
      local.matched = m.seq;
    }
  }
  if (S.chat.size > MAX_CHAT) {
    const oldest = Math.min(...S.chat.keys());
    S.chat.delete(oldest);
  }
}

/**
 * Send a chat message: shown at once as "sending" until the server answers.
 * The client sends it again with the same id after a reconnect (the server
 * applies it once); only the server's refusal marks it failed, with retry
 * and discard actions.
 * @param {string} text
 * @returns {Promise<{ok: boolean, seq?: number, code?: string}>}
 */
function say(text) {
  text = String(text ?? '').trim(); // as the chat plugin stores it
  if (!client || !text) return Promise.resolve({ ok: false, code: 'bad_request' });
  /** @type {ChatMessage} */
  const local = { seq: 0, from: S.me || { id: '' }, text, ts: Date.now(), pending: true, cid: 'c-' + rid() };
  S.chatPending.push(local);
  renderChat();
  return sendLocal(local);
}

/**
 * @param {ChatMessage} local
 * @returns {Promise<{ok: boolean, seq?: number, code?: string}>}
 */
function sendLocal(local) {
  const c = /** @type {Client} */ (client);
  return c.send('chat.send', S.room, { text: local.text }, { id: local.cid }).then(
    (ack) => {
      S.chatPending = S.chatPending.filter((m) => m !== local);
      const seq = typeof ack.seq === 'number' ? ack.seq : 0;
      // Shown already if its broadcast (or a replay) came first; otherwise
      // it stands in for the broadcast, which is then a duplicate by seq.
      if (seq > 0 && !S.chat.has(seq)) {
        const { pending, failed, matched, ...m } = local;
        addChat({ ...m, seq });
      }
      renderChat();
      return { ok: true, seq: ack.seq };
    },
    (err) => {
      const code = err?.code || 'error';
      if (code === 'closed' || code === 'left') {
        // The page left the room or was closed: nothing to retry here.
        S.chatPending = S.chatPending.filter((m) => m !== local);
      } else {
        // The server said no (rejected, forbidden, …; rate_limited and
        // internal are sent again by the client library, not shown here).
        local.pending = false;
        local.failed = true;
        local.code = code;
        local.matched = undefined;
        showError(err);
      }
      renderChat();
      return { ok: false, code };
    },
  );
}

/** @param {string} cid */
function retryChat(cid) {
  const local = S.chatPending.find((m) => m.cid === cid && m.failed);
  if (!local || !client) return Promise.resolve({ ok: false, code: 'not_found' });
  // After an ambiguous answer the first retry keeps the id: if the message
  // went out after all, the server acknowledges it with its seq and it is
  // not delivered twice. Otherwise a new id: the server answers a repeated
  // id with its first answer, the refusal.
  const sameId = AMBIGUOUS_CODES.has(local.code || '') && !local.retriedSameId;
  local.retriedSameId = sameId;
  local.failed = false;
  local.pending = true;
  local.code = undefined;
  local.ts = Date.now();
  if (!sameId) local.cid = 'c-' + rid();
  renderChat();
  return sendLocal(local);
}

/** @param {string} cid */
function discardChat(cid) {
  S.chatPending = S.chatPending.filter((m) => !(m.cid === cid && m.failed));
  renderChat();
}

/** Messages in seq order, then the local ones not answered yet, then failed ones. */
function chatList() {
  const list = [...S.chat.values()].sort((a, b) => a.seq - b.seq);
  return list.concat(S.chatPending.filter((m) => m.matched === undefined));
}

/** @param {number} ts */
function timeLabel(ts) {
  const d = new Date(ts);
  const today = new Date().toDateString() === d.toDateString();
  return today
    ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

/**
 * Chat lines shown at first and added by each "Show earlier messages": the
 * protocol has no request for older history, so the page pages through what
 * it holds (the join's chat.history, the chat plugin's last N, plus all
 * received since), rendering only the newest lines.
 */
const CHAT_PAGE = 50;

function renderChat() {
  const ol = $('messages');
  const atBottom = ol.scrollHeight - ol.scrollTop - ol.clientHeight < 40;
  // On narrow screens the chat tab scrolls the page, not the list.
  const pageAtBottom = innerHeight + scrollY >= document.documentElement.scrollHeight - 40;
  const all = chatList();
  const hidden = Math.max(0, all.length - S.chatShown);
  /** @type {HTMLElement[]} */
  const earlier = [];
  if (hidden > 0) {
    const n = Math.min(hidden, CHAT_PAGE);
    const b = h('button', { type: 'button', class: 'link', 'data-testid': 'chat-earlier' }, [
      `Show ${n} earlier message${n === 1 ? '' : 's'} (${hidden} not shown)`,
    ]);
    b.addEventListener('click', showEarlierChat);
    earlier.push(h('li', { class: 'earlier' }, [b]));
  }
  ol.replaceChildren(
    ...earlier,
    ...all.slice(hidden).map((m) => {
      const status = m.failed ? 'failed' : m.pending ? 'sending' : 'sent';
      /** @type {(Node|string)[]} */
      const kids = [
        m.ts
          ? h('time', { datetime: new Date(m.ts).toISOString(), title: new Date(m.ts).toLocaleString() }, [timeLabel(m.ts)])
          : h('time', { class: 'unknown', title: 'time not recorded' }, ['—']),
        h('span', { class: 'who', dir: 'auto' }, [m.from.name || m.from.id || '?']),
        h('span', { class: 'text', dir: 'auto' }, [m.text]),
      ];
      if (m.pending) kids.push(h('span', { class: 'status', 'data-testid': 'message-status' }, ['sending…']));
      if (m.failed) {
        const retry = h('button', { type: 'button', class: 'link', 'data-testid': 'message-retry' }, ['Retry']);
        const discard = h('button', { type: 'button', class: 'link', 'data-testid': 'message-discard' }, ['Discard']);
        const cid = /** @type {string} */ (m.cid);
        retry.addEventListener('click', () => retryChat(cid));
        discard.addEventListener('click', () => discardChat(cid));
        kids.push(h('span', { class: 'status', 'data-testid': 'message-status' }, [`not sent (${m.code || 'error'})`]), retry, discard);
      }
      return h(
        'li',
        {
          class: 'msg',
          'data-testid': 'message',
          'data-seq': String(m.seq),
          'data-role': m.from.role || '',
          'data-status': status,
          'data-pending': String(!!m.pending),
          'data-failed': String(!!m.failed),
          ...(m.cid ? { 'data-cid': m.cid } : {}),
        },
        kids,
      );
    }),
  );
  if (atBottom) ol.scrollTop = ol.scrollHeight;
  if (pageAtBottom && S.tab === 'chat' && NARROW.matches) ol.lastElementChild?.scrollIntoView({ block: 'end' });
}

/** One page more of older chat lines, keeping the reader's place. */
function showEarlierChat() {
  const ol = $('messages');
  const fromBottom = ol.scrollHeight - ol.scrollTop;
  S.chatShown += CHAT_PAGE;
  renderChat();
  ol.scrollTop = ol.scrollHeight - fromBottom;
  const more = /** @type {HTMLElement | null} */ (ol.querySelector('[data-testid=chat-earlier]'));
  (more || $('chat-input')).focus();
}

/** @param {import('./classgate.js').Frame} f */
function onTyping(f) {
  const u = asUser(f.from);
  if (!u.id || u.id === S.me?.id) return;
  S.typing.set(u.id, { name: u.name || S.people.get(u.id)?.name || u.id, until: Date.now() + TYPING_SHOW_MS });
  renderTyping();
}

function renderTyping() {
  const names = [...S.typing.values()].map((t) => t.name);
  $('typing').textContent =
    names.length === 0
      ? ''
      : names.length === 1
        ? `${names[0]} is typing…`
        : `${names.slice(0, -1).join(', ')} and ${names.at(-1)} are typing…`;
}

let lastTypingSent = 0;
const chatInput = /** @type {HTMLInputElement} */ ($('chat-input'));
chatInput.addEventListener('input', () => {
  const now = Date.now();
  if (chatInput.value && now - lastTypingSent > TYPING_SEND_MS && client) {
    if (client.notify('chat.typing', S.room, {})) lastTypingSent = now;
  }
});
/** @type {HTMLFormElement} */ ($('chat-form')).addEventListener('submit', (e) => {
  e.preventDefault();
  const text = chatInput.value.trim();
  if (!text) return;
  chatInput.value = '';
  lastTypingSent = 0;
  say(text);
});

// --------------------------------------------------------------- presence

/**
 * @param {any} u a user object or id
 * @param {string | undefined} status undefined keeps the current status
 */
function upsertPerson(u, status) {
  const user = asUser(u);
  if (!user.id) return;
  const prev = S.people.get(user.id);
  S.people.set(user.id, {
    id: user.id,
    name: user.name || prev?.name || user.id,
    role: user.role || prev?.role || '',
    status: status ?? prev?.status ?? '',
  });
}

/** @param {Person} a @param {Person} b */
function personOrder(a, b) {
  // Raised hands first (oldest order kept by name), then teachers, then the rest.
  const rank = (/** @type {Person} */ p) => (p.status === 'hand_raised' ? 0 : p.role === 'teacher' ? 1 : 2);
  return rank(a) - rank(b) || a.name.localeCompare(b.name);
}

/**
 * The teacher's "Lower" button on a raised hand (presence.lower_hand).
 * @param {Person} p
 */
function lowerButton(p) {
  const b = h('button', { type: 'button', class: 'lower', 'data-testid': 'lower-hand', 'aria-label': `Lower ${p.name}'s hand` }, ['Lower']);
  b.addEventListener('click', () => lowerHand(p.id));
  return b;
}

function renderPresence() {
  const teacher = S.me?.role === 'teacher';
  const people = [...S.people.values()].sort(personOrder);
  $('presence').replaceChildren(
    ...people.map((p) =>
      h(
        'li',
        {
          class: 'person',
          'data-testid': 'person',
          'data-user-id': p.id,
          'data-role': p.role,
          'data-status': p.status,
          title: p.status === 'hand_raised' ? `${p.name} raised a hand` : p.name,
        },
        [
          h('span', { class: 'hand-icon', 'aria-label': 'hand raised' }, ['✋']),
          h('span', { class: 'name' }, [p.name + (p.id === S.me?.id ? ' (you)' : '')]),
          h('span', { class: 'role' }, [p.role]),
          ...(teacher && p.status === 'hand_raised' && p.id !== S.me?.id ? [lowerButton(p)] : []),
        ],
      ),
    ),
  );
  $('people-count').textContent = String(people.length);
  const hands = people.filter((p) => p.status === 'hand_raised').length;
  const hc = $('hand-count');
  hc.hidden = hands === 0;
  hc.textContent = `✋ ${hands}`;
  const th = $('tab-hands');
  th.hidden = hands === 0;
  th.textContent = `✋ ${hands}`;
  // Hard to miss for a teacher in another tab or window: the title counts hands.
  document.title = (teacher && hands > 0 ? `(✋ ${hands}) ` : '') + `${S.room} — classgate`;
  if (teacher && hands > S.hands) chime();
  S.hands = hands;
  const mine = S.me ? S.people.get(S.me.id)?.status === 'hand_raised' : false;
  const hb = $('hand');
  hb.setAttribute('aria-pressed', String(mine));
  hb.textContent = mine ? '✋ Lower hand' : '✋ Raise hand';
}

/**
 * @param {boolean} up
 * @returns {Promise<{ok: boolean, seq?: number, code?: string}>}
 */
function setHand(up) {
  if (!client) return Promise.resolve({ ok: false, code: 'closed' });
  // Lowering goes back to "online", the presence plugin's default status
  // (it accepts only non-empty statuses).
  return client.send('presence.update', S.room, { status: up ? 'hand_raised' : 'online' }).then(
    (ack) => ({ ok: true, seq: ack.seq }),
    (err) => {
      showError(err);
      return { ok: false, code: err.code || 'error' };
    },
  );
}
/**
 * A teacher lowers another user's raised hand (refused with `forbidden` for
 * other roles).
 * @param {string} userId
 * @returns {Promise<{ok: boolean, seq?: number, code?: string}>}
 */
function lowerHand(userId) {
  if (!client) return Promise.resolve({ ok: false, code: 'closed' });
  return client.send('presence.lower_hand', S.room, { user: userId }).then(
    (ack) => ({ ok: true, seq: ack.seq }),
    (err) => {
      showError(err);
      return { ok: false, code: err.code || 'error' };
    },
  );
}

/**
 * A short, quiet two-tone chime when a hand goes up (teachers only). Browsers
 * allow sound only after the user interacted with the page; before that, or
 * without Web Audio, it is silently skipped. `classroom.chimes` counts them.
 */
function chime() {
  S.chimes++;
  try {
    const AC = /** @type {any} */ (window).AudioContext;
    if (!AC) return;
    S.audio ??= new AC();
    const ac = S.audio;
    if (ac.state !== 'running') return;
    const g = ac.createGain();
    g.gain.value = 0.04;
    g.connect(ac.destination);
    [660, 880].forEach((f, i) => {
      const o = ac.createOscillator();
      o.frequency.value = f;
      o.connect(g);
      o.start(ac.currentTime + i * 0.12);
      o.stop(ac.currentTime + i * 0.12 + 0.1);
    });
  } catch {
    /* no sound: the title and the list still show it */
  }
}

// Browsers start sound only from a user gesture: a teacher's first click or
// key press lets later chimes play.
for (const type of ['pointerdown', 'keydown']) {
  document.addEventListener(type, () => {
    if (S.me?.role !== 'teacher' || S.audio?.state === 'running') return;
    const AC = /** @type {any} */ (window).AudioContext;
    if (!AC) return;
    try {
      S.audio ??= new AC();
      S.audio.resume();
    } catch {
      /* no sound */
    }
  });
}

$('hand').addEventListener('click', () => {
  const mine = S.me ? S.people.get(S.me.id)?.status === 'hand_raised' : false;
  setHand(!mine);
});

// ------------------------------------------------------------------ tabs

/** @type {('board' | 'chat' | 'people')[]} */
const TABS = ['board', 'chat', 'people'];

/**
 * Shows one view on narrow screens (CSS hides the others below 900 px; wider
 * screens show all three whatever the tab).
 * @param {'board' | 'chat' | 'people'} name
 */
function showTab(name) {
  S.tab = name;
  $('classroom').dataset.tab = name;
  for (const t of TABS) {
    const b = $('tab-' + t);
    b.setAttribute('aria-selected', String(t === name));
    b.tabIndex = t === name ? 0 : -1;
  }
  if (name === 'chat') {
    S.unread = 0;
    renderUnread();
    const ol = $('messages');
    ol.scrollTop = ol.scrollHeight;
    // The newest line, above the pinned input (its scroll-margin).
    if (NARROW.matches) ol.lastElementChild?.scrollIntoView({ block: 'end' });
  }
}

function renderUnread() {
  const u = $('chat-unread');
  u.hidden = S.unread === 0;
  u.textContent = String(S.unread);
  u.setAttribute('aria-label', `${S.unread} unread`);
}

for (const t of TABS) {
  const b = $('tab-' + t);
  b.addEventListener('click', () => showTab(t));
  // Arrow keys move between tabs (WAI-ARIA tabs pattern).
  b.addEventListener('keydown', (e) => {
    const i = TABS.indexOf(t);
    const next = e.key === 'ArrowRight' ? TABS[(i + 1) % 3] : e.key === 'ArrowLeft' ? TABS[(i + 2) % 3] : null;
    if (!next) return;
    e.preventDefault();
    showTab(next);
    $('tab-' + next).focus();
  });
}

$('signin-again').addEventListener('click', signInAgain);
$('history-notice-close').addEventListener('click', () => {
  $('history-notice').hidden = true;
});
$('logout').addEventListener('click', () => {
  saveSession(null);
  client?.close(1000, 'left the class');
  location.href = location.pathname; // fresh page, without ?token=
});

// ------------------------------------------------------------------ misc

/** @type {any} */
let toastTimer = null;
/** @param {any} err */
function showError(err) {
  const code = err?.code || 'error';
  const detail = err?.detail || err?.message || String(err);
  S.errors.push({ code, message: detail });
  if (S.errors.length > 50) S.errors.shift();
  const friendly =
    code === 'rejected' || code === 'forbidden'
      ? `Not allowed: ${detail}`
      : code === 'rate_limited'
        ? 'Slow down a little.'
        : code === 'timeout'
          ? 'The server did not answer in time.'
          : detail;
  const t = $('toast');
  t.dataset.kind = 'error';
  t.dataset.code = code;
  t.textContent = friendly;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    t.hidden = true;
  }, 4000);
}

function renderAll() {
  scheduleRender();
  renderChat();
  renderPresence();
  renderTyping();
}

// ------------------------------------------------------------- test hooks

const copy = (/** @type {any} */ x) => JSON.parse(JSON.stringify(x));

/**
 * Automation hooks (used by the browser tests; handy in the console).
 * Reading functions return copies.
 */
const classroom = {
  /** Connection state of the client: idle, connecting, open, reconnecting, closed. */
  get state() {
    return client?.state || 'idle';
  },
  get me() {
    return S.me && copy(S.me);
  },
  get room() {
    return S.room;
  },
  /** Plugin namespaces the room has (from the last `joined`). */
  get features() {
    return [...S.features];
  },
  /** Seq of the whiteboard as last applied. */
  get boardSeq() {
    return S.board.seq;
  },
  /** Committed whiteboard elements, in draw order. */
  elements: () => copy([...S.board.elements.values()]),
  /** Chat messages in order (pending ones last, with pending: true). */
  chat: () => copy(chatList()),
  /** People in the room, sorted as displayed. */
  presence: () => copy([...S.people.values()].sort(personOrder)),
  /** Names currently shown as typing. */
  typing: () => [...S.typing.values()].map((t) => t.name),
  /** Remote cursors. */
  cursors: () => [...S.cursors.entries()].map(([id, c]) => ({ id, name: c.name, x: c.x, y: c.y, visible: !c.el.hidden })),
  /** Errors shown to the user. */
  errors: () => copy(S.errors),
  /** Why the session ended (`unauthorized`, `token_expired`, `removed`, `policy`), '' while signed in. */
  get signedOut() {
    return S.signedOut;
  },
  /** Auth error codes the client reported, oldest first. */
  authErrors: () => [...S.authErrors],
  /** History notices shown: `{reason: 'reset' | 'history', at}`. */
  notices: () => copy(S.notices),
  /** Retry / discard a chat message the server refused (by its data-cid). */
  retryChat,
  discardChat,
  draw: (/** @type {Element} */ el) => commitElement({ ...newElement(el.kind, [0, 0]), ...el }),
  erase: eraseElement,
  /** Clear the board — sent whatever the role, so tests can see a refusal. */
  clear: clearBoard,
  say,
  setHand,
  lowerHand,
  setTool,
  /** Hands-up chimes played (or attempted) so far. */
  get chimes() {
    return S.chimes;
  },
  /** Board rights from the snapshot: `{clear, eraseAny, eraseOwn}` or null. */
  get can() {
    return S.can && { ...S.can };
  },
  /** The tab shown on narrow screens (`board`, `chat`, `people`). */
  get tab() {
    return S.tab;
  },
  showTab,
  /** Make reconnects wait until release() (a deterministic offline window). */
  hold() {
    if (!S.hold) S.hold = new Promise((r) => (S.release = r));
  },
  release() {
    S.release?.();
    S.hold = null;
    S.release = null;
  },
  /** Pixel colour [r,g,b,a] of the canvas at board coordinates. */
  pixel(/** @type {number} */ x, /** @type {number} */ y) {
    renderBoard();
    const px = Math.floor((x / BOARD_W) * canvas.width);
    const py = Math.floor((y / BOARD_H) * canvas.height);
    return [...ctx.getImageData(px, py, 1, 1).data];
  },
  /**
   * Darkest channel value (0 black … 255 white) of the canvas within r board
   * units of (x, y): tells whether something is drawn there at any scale.
   */
  ink(/** @type {number} */ x, /** @type {number} */ y, /** @type {number} */ r = 10) {
    renderBoard();
    const sx = canvas.width / BOARD_W;
    const sy = canvas.height / BOARD_H;
    const x0 = Math.max(0, Math.floor((x - r) * sx));
    const y0 = Math.max(0, Math.floor((y - r) * sy));
    const w = Math.max(1, Math.ceil(2 * r * sx));
    const hh = Math.max(1, Math.ceil(2 * r * sy));
    const d = ctx.getImageData(x0, y0, w, hh).data;
    let min = 255;
    for (let i = 0; i < d.length; i += 4) min = Math.min(min, d[i], d[i + 1], d[i + 2]);
    return min;
  },
  get client() {
    return client;
  },
  /** The deployment whose client options the page uses (`standalone`, `apigateway`). */
  deployment: deployment.name,
  /** The client's options for it (DEPLOYMENTS in classgate.js), e.g. `{pingInterval}`. */
  clientOptions: () => ({ ...DEPLOYMENTS[deployment.name] }),
};
/** @type {any} */ (window).classroom = classroom;

// ------------------------------------------------------------------ boot

session = loadSession();
if (session) start();
else showLogin();
document.body.dataset.ready = 'true';
