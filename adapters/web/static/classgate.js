// @ts-check
/**
 * classgate.js — the client of the classgate wire protocol, version 1
 * (shared/PROTOCOL.md). A dependency-free ES module for browsers and
 * Node.js ≥ 20 (pass a WebSocket constructor where there is no global one).
 *
 * What it does for the application:
 *
 *  - connects with a token in the query string (`?token=`), to the standalone
 *    gateway (`ws(s)://host/ws`) or an API Gateway stage URL;
 *  - joins several rooms and re-joins them after every reconnect with
 *    `since` = the last seq applied, so the server replays what was missed;
 *  - reconnects with jittered exponential backoff, except after close codes
 *    that mean "do not come back" (4001 token expired, 4003 removed,
 *    1008 policy);
 *  - delivers each durable event (one with a `seq`) exactly once and in
 *    order per room: duplicates (seq ≤ last applied) are dropped, a gap
 *    (seq > last + 1) is never delivered out of order but makes the client
 *    re-join with `since`;
 *  - `send()` returns a promise settled by the server's `ack` (with the
 *    event's seq) or `error` (code, message), or a timeout; frames not yet
 *    acknowledged are sent again, with the same `id`, once their room is
 *    re-joined after a reconnect — the server deduplicates by id, so a frame
 *    is never applied twice;
 *  - sends an application-level `ping` when nothing was received for
 *    `pingInterval` (10 s) and treats a missing answer within `pongTimeout`
 *    (10 s) as a dead connection: a silently dropped link is noticed within
 *    20 s by default (API Gateway also closes connections idle for
 *    10 minutes and sends no pings of its own: {@link DEPLOYMENTS} has the
 *    sparser interval for it, {@link deploymentOf} picks it by URL); a frame
 *    the server answers (join, leave, send) arms the same deadline at no
 *    extra frame, so a member who acts on a dead link notices within
 *    `pongTimeout` whatever the ping interval;
 *  - notices a refused token (the handshake answered HTTP 401/403, which a
 *    browser reports only as a failed connection) by probing the endpoint
 *    with a plain GET after a connection that failed before opening, and
 *    then stops and reports `unauthorized` instead of retrying forever.
 *
 * Events (see {@link Client#on}): `state`, `message`, every frame type
 * (`chat.message`, `whiteboard.draw`, …), `joined`, `resync`, `error`.
 *
 * Not safe to share one Client between unrelated owners: it is a single
 * connection with one set of rooms. All callbacks run on the event loop.
 *
 * @module classgate
 */

/** Protocol version this client speaks. */
export const PROTOCOL_VERSION = 1;

/**
 * Close codes after which the client does not reconnect by itself: 4001
 * (token expired — get a new token, then call connect()), 4003 (removed
 * from the room or closed by a teacher/administrator) and 1008 (policy).
 */
export const FATAL_CLOSE_CODES = Object.freeze([4001, 4003, 1008]);

/** Close code the client uses when it gives up on a silent connection. */
export const CLOSE_PING_TIMEOUT = 4000;

/**
 * The error codes the client reports (event `error`, and `reason` of the
 * `closed` state) when it stops because of the token or a removal: the
 * handshake was refused (HTTP 401/403), the token expired (close 4001), the
 * user was removed (4003), a policy close (1008).
 */
export const AUTH_ERROR_CODES = Object.freeze({
  unauthorized: 'unauthorized',
  4001: 'token_expired',
  4003: 'removed',
  1008: 'policy',
});

/** Defaults of the timing options, in ms (one place; the docs quote them). */
export const DEFAULTS = Object.freeze({
  ackTimeout: 20000,
  sendTimeout: 0,
  pingInterval: 10000,
  pongTimeout: 10000,
  connectTimeout: 10000,
  gapWait: 1000,
  refreshBefore: 60000,
  sendRetryDelay: 500,
});

/**
 * Error codes after which a send is sent again (same id) instead of
 * rejected: the server applied nothing and asks for a retry later —
 * `rate_limited` (the connection's token bucket, a busy room, or a node
 * behind on the connection's frames) and `internal` (the store failed).
 */
const RETRIED = new Set(['rate_limited', 'internal']);

/**
 * Client options per deployment (one place: the classroom page applies
 * them, the docs quote them, js_test.go checks that they agree).
 * `standalone`: the gateway's own WebSocket server, where pings are free —
 * the defaults. `apigateway`: AWS API Gateway's WebSocket API in front of
 * the Lambda function, where every client frame is a billed message and a
 * Lambda invocation and a connection with no frame for 10 minutes is closed:
 * a ping after 5 minutes without any frame received, half the idle timeout
 * (docs/LAMBDA.md, "Pings and liveness"). A dead link is then noticed within
 * pingInterval + pongTimeout (310 s) by a member who only listens, within
 * pongTimeout of anything the member sends.
 */
export const DEPLOYMENTS = Object.freeze({
  standalone: Object.freeze({ pingInterval: DEFAULTS.pingInterval }),
  apigateway: Object.freeze({ pingInterval: 300000 }),
});

/** Host names of API Gateway's own endpoints: <api-id>.execute-api.<region>.amazonaws.com(.cn). */
const API_GATEWAY_HOST = /^[a-z0-9]+\.execute-api\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/i;

/**
 * The deployment a WebSocket URL reaches, a key of {@link DEPLOYMENTS}:
 * `name` when given (needed for a custom domain in front of API Gateway, or
 * the local emulator), else `apigateway` for API Gateway's own host names
 * (the SAM template's `WebSocketUrl`), else `standalone`.
 * @param {string} url the WebSocket endpoint
 * @param {string | null} [name] an explicit deployment name
 * @returns {keyof typeof DEPLOYMENTS}
 * @throws {RangeError} when name is not a key of DEPLOYMENTS
 */
export function deploymentOf(url, name) {
  if (name) {
    if (name !== 'standalone' && name !== 'apigateway') {
      throw new RangeError(`unknown deployment ${JSON.stringify(name)}: want ${Object.keys(DEPLOYMENTS).join(' or ')}`);
    }
    return name;
  }
  let host = '';
  try {
    host = new URL(url).hostname;
  } catch {
    // Not a URL: the connection attempt reports it.
  }
  return API_GATEWAY_HOST.test(host) ? 'apigateway' : 'standalone';
}

/**
 * An error reported by the server (`error` frame) or by the client itself
 * (`timeout`, `closed`, `left`).
 */
export class ClassgateError extends Error {
  /**
   * @param {string} code protocol error code (`rejected`, `forbidden`, …) or
   *   a client code: `timeout`, `closed`, `left`.
   * @param {string} [message]
   * @param {any} [frame] the server frame, when there is one.
   */
  constructor(code, message, frame) {
    super(message ? `${code}: ${message}` : code);
    this.name = 'ClassgateError';
    /** @type {string} */
    this.code = code;
    /** @type {string} */
    this.detail = message || '';
    /** @type {any} */
    this.frame = frame;
  }
}

/**
 * @typedef {Object} Timers
 * @property {(fn: () => void, ms: number) => any} setTimeout
 * @property {(handle: any) => void} clearTimeout
 */

/**
 * @typedef {Object} BackoffOptions
 * @property {number} [initial=500] first delay in ms
 * @property {number} [max=30000] upper bound in ms
 * @property {number} [factor=2] growth per attempt
 * @property {number} [jitter=0.5] fraction of the delay that is random:
 *   delay = base × (1 − jitter + jitter × random())
 */

/**
 * @typedef {Object} ClientOptions
 * @property {string | (() => string)} url WebSocket endpoint without the
 *   token, e.g. `wss://classes.example.org/ws` or an API Gateway stage URL
 *   `wss://abc.execute-api.eu-west-1.amazonaws.com/prod`.
 * @property {string | (() => string | Promise<string>)} token the JWT, or a
 *   function called before every (re)connect that returns it.
 * @property {any} [WebSocket] WebSocket constructor; defaults to
 *   `globalThis.WebSocket` (Node 20 has none without a flag).
 * @property {number} [ackTimeout=20000] ms until join() rejects with code
 *   `timeout`, counted from the call, across reconnects (the client keeps
 *   trying to join).
 * @property {number} [sendTimeout=0] ms until send() rejects with code
 *   `timeout`; 0 (the default) never: a send waits, across reconnects,
 *   until the server answers it (`ack` or `error`) or close()/leave(). A
 *   timeout says nothing about the outcome — the frame may still be
 *   applied — so user interfaces should rather show "sending".
 * @property {number} [sendRetryDelay=500] ms before a send answered
 *   `rate_limited` or `internal` (nothing applied; the server asks for a
 *   retry later) is sent again with the same id; the delay doubles with
 *   each retry, up to 16 times this, with jitter. The send keeps waiting
 *   (sendTimeout still bounds it). 0: such a send rejects with the code.
 * @property {number} [pingInterval=10000] ms without any frame received
 *   after which the client sends a `ping`.
 * @property {number} [pongTimeout=10000] ms to wait for any frame after a
 *   ping before the connection is considered dead and replaced; a dead
 *   link is noticed within pingInterval + pongTimeout.
 * @property {number} [connectTimeout=10000] ms for a connection attempt to
 *   open before it is abandoned and retried.
 * @property {false | ((httpURL: string) => Promise<'refused' | 'ok' | 'unknown'>)} [authCheck]
 *   how to tell a refused token from a network failure after a connection
 *   that failed before opening (browsers hide the handshake's HTTP status).
 *   Default: `fetch(httpURL)` — the WebSocket URL with http(s) and the
 *   token — where 401 or 403 means refused. `false` disables the check.
 * @property {number} [refreshBefore=60000] with a token function: ms before
 *   the token's `exp` at which the client gets a new token and reconnects
 *   with it (resuming every room with since); 0 disables.
 * @property {number} [gapWait=1000] ms to wait for the missing events of a
 *   gap before re-joining: events that arrive out of order (possible behind
 *   API Gateway, where several Lambda invocations post concurrently) are
 *   held and delivered in order as soon as the gap fills. 0 re-joins at once.
 * @property {BackoffOptions} [backoff]
 * @property {number} [maxRetries=Infinity] reconnect attempts in a row
 *   before giving up with state `closed`.
 * @property {() => number} [random=Math.random] for the jitter (tests).
 * @property {() => number} [now=Date.now] wall clock in ms, for the token
 *   refresh (tests).
 * @property {Timers} [timers] setTimeout/clearTimeout (tests).
 * @property {string} [idPrefix] prefix of client message ids; a random one
 *   by default, so that two tabs of one user never share ids.
 */

/**
 * @typedef {Object} User
 * @property {string} id
 * @property {string} [name]
 * @property {string} [role]
 */

/**
 * A frame from the server. Room events carry `room`, `type`, `data`, and
 * for durable events `seq`, `ts` and `from`.
 * @typedef {Object} Frame
 * @property {string} type
 * @property {string} [room]
 * @property {string} [id]
 * @property {number} [seq]
 * @property {number} [ts]
 * @property {User} [from]
 * @property {any} [data]
 * @property {string} [code]
 * @property {string} [message]
 * @property {User} [user]
 * @property {string[]} [features]
 * @property {string} [connection_id]
 * @property {string} [epoch] `joined`, `resync`: the room sequence's epoch
 */

/**
 * @typedef {Object} Ack
 * @property {string} id the client message id
 * @property {number} [seq] the seq of the event the frame produced (durable
 *   frames only)
 */

/**
 * Payload of the `state` event.
 * @typedef {Object} StateEvent
 * @property {'connecting'|'open'|'reconnecting'|'resynced'|'closed'} state
 * @property {number} [code] close code (reconnecting, closed)
 * @property {string} [reason] close reason (reconnecting, closed); for a
 *   stop caused by the token: one of {@link AUTH_ERROR_CODES}
 * @property {boolean} [auth] closed because of the token or a removal: get a
 *   new token (sign in again), then connect()
 * @property {number} [attempt] reconnect attempt, from 1 (reconnecting)
 * @property {number} [delay] ms until that attempt (reconnecting)
 * @property {string[]} [rooms] rooms re-joined (resynced)
 */

/**
 * @typedef {Object} RoomState
 * @property {string} name
 * @property {number} lastSeq last durable seq applied (0: none yet)
 * @property {boolean} everJoined a `joined` was received once
 * @property {'idle'|'joining'|'joined'} status on the current connection
 * @property {Map<number, Frame>} held durable events after a gap, by seq
 * @property {any} gapTimer
 * @property {string} [joinId] id of the join in flight
 * @property {number | undefined} [joinSince] its `since`
 * @property {string} [epoch] the room's epoch lastSeq counts in (from the
 *   last `joined` or `resync`), sent back with `since`
 * @property {boolean} [fresh] the next join asks for a fresh start (no since)
 * @property {boolean} [resetAnnounced] this join's answer already reported a
 *   reset (the epoch changed): the `resync` that follows is not reported again
 * @property {Array<{resolve: (f: Frame) => void, reject: (e: Error) => void, timer: any}>} waiters
 */

/**
 * @typedef {Object} Pending
 * @property {string} id
 * @property {string} room
 * @property {string} frame the encoded frame, re-sent verbatim
 * @property {number} gen connection generation it was last written on (0: never)
 * @property {(a: Ack) => void} resolve
 * @property {(e: Error) => void} reject
 * @property {any} timer
 * @property {number} retries sends again after rate_limited or internal so far
 * @property {any} retryTimer the next of them, when one is due
 */

const DEFAULT_BACKOFF = { initial: 500, max: 30000, factor: 2, jitter: 0.5 };

/**
 * Compute a reconnect delay.
 * @param {number} attempt 0 for the first retry
 * @param {BackoffOptions} opts
 * @param {() => number} random
 * @returns {number} ms
 */
export function backoffDelay(attempt, opts, random) {
  const o = { ...DEFAULT_BACKOFF, ...opts };
  const base = Math.min(o.max, o.initial * Math.pow(o.factor, attempt));
  return Math.round(base * (1 - o.jitter + o.jitter * random()));
}

function randomPrefix() {
  let s = '';
  for (let i = 0; i < 8; i++) s += Math.floor(Math.random() * 36).toString(36);
  return s;
}

/**
 * One connection to a classgate gateway.
 *
 * @example
 * const c = new Client({ url: 'wss://host/ws', token: jwt });
 * c.on('chat.message', (f) => console.log(f.from?.name, f.data.text));
 * c.connect();
 * await c.join('math-7');
 * const { seq } = await c.send('chat.send', 'math-7', { text: 'hello' });
 */
export class Client {
  /** @param {ClientOptions} opts */
  constructor(opts) {
    if (!opts || !opts.url) throw new TypeError('classgate: url is required');
    if (opts.token === undefined) throw new TypeError('classgate: token is required');
    /** @private */ this.opts = opts;
    /** @private */ this.WS = opts.WebSocket || /** @type {any} */ (globalThis).WebSocket;
    if (typeof this.WS !== 'function') {
      throw new TypeError('classgate: no WebSocket constructor; pass options.WebSocket');
    }
    /** @private */ this.timers = opts.timers || {
      setTimeout: (/** @type {() => void} */ fn, /** @type {number} */ ms) => setTimeout(fn, ms),
      clearTimeout: (/** @type {any} */ h) => clearTimeout(h),
    };
    /** @private */ this.random = opts.random || Math.random;
    /** @private */ this.ackTimeout = opts.ackTimeout ?? DEFAULTS.ackTimeout;
    /** @private */ this.sendTimeout = opts.sendTimeout ?? DEFAULTS.sendTimeout;
    /** @private */ this.sendRetryDelay = opts.sendRetryDelay ?? DEFAULTS.sendRetryDelay;
    /** @private */ this.pingInterval = opts.pingInterval ?? DEFAULTS.pingInterval;
    /** @private */ this.pongTimeout = opts.pongTimeout ?? DEFAULTS.pongTimeout;
    /** @private */ this.connectTimeout = opts.connectTimeout ?? DEFAULTS.connectTimeout;
    /** @private */ this.refreshBefore = opts.refreshBefore ?? DEFAULTS.refreshBefore;
    /** @private */ this.gapWait = opts.gapWait ?? DEFAULTS.gapWait;
    /** @private */ this.maxRetries = opts.maxRetries ?? Infinity;
    /** @private */ this.idPrefix = opts.idPrefix || randomPrefix();
    /** @private */ this.nextId = 1;

    /**
     * Current connection state: `idle` before connect(), then
     * `connecting`, `open`, `reconnecting` or `closed`.
     * @type {'idle'|'connecting'|'open'|'reconnecting'|'closed'}
     */
    this.state = 'idle';
    /** The user of the token, as reported by the last `joined`. @type {User | null} */
    this.user = null;
    /** Close code of the last closed connection (0 before any). */
    this.closeCode = 0;

    /** @private @type {Map<string, Set<Function>>} */ this.listeners = new Map();
    /** @private @type {Map<string, RoomState>} */ this.rooms = new Map();
    /** @private @type {Map<string, Room>} */ this.subs = new Map();
    /** @private @type {Map<string, Pending>} */ this.pending = new Map();
    /** @private @type {Map<string, {resolve: () => void, timer: any}>} */ this.leaves = new Map();
    /** @private @type {any} */ this.ws = null;
    /** @private */ this.gen = 0;
    /** @private */ this.attempt = 0;
    /** @private */ this.stopped = true;
    /** @private @type {any} */ this.retryTimer = null;
    /** @private @type {any} */ this.pingTimer = null;
    /** @private @type {any} */ this.pongTimer = null;
    /** @private @type {string | null} */ this.pingId = null;
    /** @private */ this.hadOpen = false;
    /** @private @type {Set<string> | null} */ this.resyncing = null;
    /** @private @type {any} */ this.connectTimer = null;
    /** @private @type {any} */ this.refreshTimer = null;
    /** @private Whether the current socket opened. */ this.opened = false;
    /** @private close() was called (sends are refused until connect()). */ this.closedByApp = false;
    /** @private The URL (with token) of the current attempt. */ this.dialURL = '';
  }

  // ---------------------------------------------------------------- events

  /**
   * Subscribe to an event. Names: `state` ({@link StateEvent}), `message`
   * (every room event delivered, after dedupe), a frame type such as
   * `chat.message` (those frames only), `joined` (each `joined` frame,
   * re-joins included), `resync` (`{room, seq}`: the server could not
   * replay what was missed — the join state that follows is the whole
   * truth, so drop the room's local state before applying it), `error`
   * (errors not tied to a send or join: a frame without id, a bad frame, a
   * failed token fetch, a failed re-join).
   * @param {string} name
   * @param {(payload: any) => void} fn
   * @returns {() => void} unsubscribe
   */
  on(name, fn) {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(fn);
    return () => this.off(name, fn);
  }

  /**
   * Subscribe for the next event of that name only.
   * @param {string} name
   * @param {(payload: any) => void} fn
   * @returns {() => void} unsubscribe (before it fired)
   */
  once(name, fn) {
    /** @type {((payload: any) => void) & {listener?: Function}} */
    const w = (payload) => {
      this.off(name, w);
      fn(payload);
    };
    w.listener = fn; // so that off(name, fn) finds it
    return this.on(name, w);
  }

  /**
   * Unsubscribe a listener given to on() or once().
   * @param {string} name
   * @param {(payload: any) => void} fn
   */
  off(name, fn) {
    const set = this.listeners.get(name);
    if (!set) return;
    set.delete(fn);
    for (const w of set) if (/** @type {any} */ (w).listener === fn) set.delete(w);
  }

  /**
   * @private
   * @param {string} name
   * @param {any} payload
   */
  emit(name, payload) {
    const set = this.listeners.get(name);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(payload);
      } catch (err) {
        // A listener's bug must not break the protocol state machine.
        if (name !== 'error') this.emit('error', err);
        else console.error(err); // eslint-disable-line no-console
      }
    }
  }

  /**
   * @private
   * @param {StateEvent['state']} state
   * @param {Partial<StateEvent>} [extra]
   */
  setState(state, extra) {
    if (state !== 'resynced') this.state = state;
    this.emit('state', { state, ...extra });
  }

  // ------------------------------------------------------------ lifecycle

  /**
   * Open the connection (no-op when already connecting or open). After a
   * fatal close (e.g. 4001, or `unauthorized`) call it again, with a fresh
   * token, to resume: the rooms are kept and re-joined with `since`, and the
   * sends still waiting for their answer are sent again with their ids.
   */
  connect() {
    if (!this.stopped) return;
    this.stopped = false;
    this.closedByApp = false;
    this.attempt = 0;
    this.setState('connecting');
    this.dial();
  }

  /**
   * Close the connection for good (code 1000) and reject every pending
   * send and join with code `closed`. connect() may be called again.
   * @param {number} [code=1000]
   * @param {string} [reason]
   */
  close(code = 1000, reason = 'client closed') {
    this.stopped = true;
    this.closedByApp = true;
    this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.timers.clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
    const ws = this.ws;
    this.detach();
    if (ws) {
      try {
        ws.close(code, reason);
      } catch {
        /* already closed */
      }
    }
    this.closeCode = code;
    this.failAll(new ClassgateError('closed', reason));
    this.setState('closed', { code, reason });
  }

  /**
   * Skip the rest of the current backoff delay and reconnect now (e.g. on
   * the browser's `online` event). No-op unless reconnecting.
   */
  reconnectNow() {
    if (this.stopped || this.state !== 'reconnecting' || this.retryTimer === null) return;
    this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.dial();
  }

  /**
   * Check the connection now (e.g. when the page becomes visible again, or
   * on the browser's `online`/`offline` events): when open, send a ping and
   * replace the connection unless something arrives within `timeout`
   * (default pongTimeout); when waiting to reconnect, reconnect now.
   * @param {number} [timeout]
   */
  checkConnection(timeout) {
    if (this.stopped) return;
    if (this.state === 'reconnecting') {
      this.reconnectNow();
      return;
    }
    if (this.ws && this.state === 'open') this.sendPing(timeout ?? this.pongTimeout);
  }

  /** @private */
  async dial() {
    const gen = ++this.gen;
    let token;
    try {
      const t = this.opts.token;
      token = typeof t === 'function' ? await t() : t;
    } catch (err) {
      if (gen !== this.gen || this.stopped) return;
      this.emit('error', err);
      this.scheduleReconnect(1006, 'token unavailable');
      return;
    }
    if (gen !== this.gen || this.stopped) return;
    const base = typeof this.opts.url === 'function' ? this.opts.url() : this.opts.url;
    const url = base + (base.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(token || '');
    this.dialURL = url;
    this.opened = false;
    this.scheduleRefresh(token || '');
    let ws;
    try {
      ws = new this.WS(url);
    } catch (err) {
      this.emit('error', err);
      this.scheduleReconnect(1006, String(err));
      return;
    }
    this.ws = ws;
    this.timers.clearTimeout(this.connectTimer);
    this.connectTimer = this.timers.setTimeout(() => {
      this.connectTimer = null;
      // A handshake that hangs (a stalled server, a dead route): give up
      // on it and retry.
      if (gen === this.gen && !this.opened) this.drop(1006, 'connect timeout');
    }, this.connectTimeout);
    ws.onopen = () => {
      if (gen === this.gen) this.onOpen();
    };
    ws.onmessage = (/** @type {{data: any}} */ ev) => {
      if (gen === this.gen) this.onMessage(ev.data);
    };
    ws.onclose = (/** @type {{code?: number, reason?: string}} */ ev) => {
      if (gen === this.gen) this.onClose(ev.code || 1006, ev.reason || '');
    };
    ws.onerror = () => {
      /* a close event follows */
    };
  }

  /**
   * Stop listening to the current socket and forget per-connection state.
   * @private
   */
  detach() {
    this.gen++;
    this.ws = null;
    this.timers.clearTimeout(this.pingTimer);
    this.timers.clearTimeout(this.pongTimer);
    this.timers.clearTimeout(this.connectTimer);
    this.pingTimer = this.pongTimer = this.connectTimer = null;
    this.pingId = null;
    this.resyncing = null;
    for (const r of this.rooms.values()) {
      r.status = 'idle';
      r.joinId = undefined;
      // The re-join after the reconnect replays everything after lastSeq.
      this.dropHeld(r);
    }
    for (const p of this.pending.values()) p.gen = 0;
  }

  /** @private */
  onOpen() {
    this.attempt = 0;
    this.opened = true;
    this.timers.clearTimeout(this.connectTimer);
    this.connectTimer = null;
    const reconnect = this.hadOpen;
    this.hadOpen = true;
    this.setState('open');
    this.schedulePing();
    if (reconnect && this.rooms.size > 0) this.resyncing = new Set(this.rooms.keys());
    for (const r of this.rooms.values()) this.sendJoin(r);
  }

  /**
   * @private
   * @param {number} code
   * @param {string} reason
   */
  onClose(code, reason) {
    const opened = this.opened;
    const url = this.dialURL;
    this.detach();
    this.closeCode = code;
    if (this.stopped) return;
    if (FATAL_CLOSE_CODES.includes(code)) {
      const c = /** @type {Record<number, string>} */ (AUTH_ERROR_CODES)[code];
      this.stopAuth(c, `connection closed with ${code} ${reason}`.trim(), code);
      return;
    }
    this.scheduleReconnect(code, reason);
    if (!opened) this.probeAuth(url);
  }

  /**
   * Stop because of the token or a removal: no more retries; sends keep
   * waiting (they are sent, with their ids, after connect() with a new
   * token). Emits `error` with the code and state `closed` with `auth`.
   * @private
   * @param {string} code one of AUTH_ERROR_CODES
   * @param {string} message
   * @param {number} closeCode
   */
  stopAuth(code, message, closeCode) {
    this.stopped = true;
    this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.timers.clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
    for (const r of this.rooms.values()) {
      for (const w of r.waiters.splice(0)) {
        this.timers.clearTimeout(w.timer);
        w.reject(new ClassgateError(code, message));
      }
    }
    const err = new ClassgateError(code, message);
    this.setState('closed', { code: closeCode, reason: code, auth: true });
    this.emit('error', err);
  }

  /**
   * After a connection that failed before opening: was the token refused?
   * Browsers report a handshake answered 401 as a plain failure (close
   * 1006), so ask the endpoint over HTTP: the gateway checks the token
   * before the upgrade and answers 401 to a refused one.
   * @private
   * @param {string} url the WebSocket URL, token included
   */
  async probeAuth(url) {
    const check = this.opts.authCheck ?? defaultAuthCheck;
    if (!check || !url) return;
    let verdict;
    try {
      verdict = await check(url.replace(/^ws(s?):/i, 'http$1:'));
    } catch {
      return; // unknown: keep retrying
    }
    // Only if nothing changed meanwhile: not stopped, not open, and no
    // newer attempt with another token.
    if (verdict !== 'refused' || this.stopped || this.state === 'open' || this.dialURL !== url) return;
    const ws = this.ws;
    this.detach();
    try {
      ws?.close(1000, 'unauthorized');
    } catch {
      /* ignore */
    }
    this.stopAuth(AUTH_ERROR_CODES.unauthorized, 'the server refused the token', 1006);
  }

  /**
   * With a token function, renew the token `refreshBefore` ms before it
   * expires and reconnect with it (rooms resume with since; pending sends
   * are sent again with their ids).
   * @private
   * @param {string} token
   */
  scheduleRefresh(token) {
    this.timers.clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
    if (typeof this.opts.token !== 'function' || !(this.refreshBefore > 0)) return;
    const exp = tokenExpiry(token);
    const now = (this.opts.now || Date.now)();
    if (!exp) return;
    const wait = exp * 1000 - this.refreshBefore - now;
    // Already within the window: this token is all there is (the function
    // returned no fresher one); it runs out and the server says 4001.
    if (wait <= 0) return;
    this.refreshTimer = this.timers.setTimeout(() => {
      this.refreshTimer = null;
      if (this.stopped || this.state !== 'open') return;
      // Make way for a connection with a fresh token: the token function
      // runs in dial().
      this.drop(1000, 'token refresh', 0);
    }, wait);
  }

  /**
   * @private
   * @param {number} code
   * @param {string} reason
   * @param {number} [fixedDelay]
   */
  scheduleReconnect(code, reason, fixedDelay) {
    if (this.attempt >= this.maxRetries) {
      // Sends keep waiting: connect() resumes them.
      this.stopped = true;
      this.setState('closed', { code, reason });
      return;
    }
    const delay = fixedDelay ?? backoffDelay(this.attempt, this.opts.backoff || {}, this.random);
    this.attempt++;
    this.setState('reconnecting', { code, reason, attempt: this.attempt, delay });
    this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = this.timers.setTimeout(() => {
      this.retryTimer = null;
      if (!this.stopped) this.dial();
    }, delay);
  }

  /**
   * Drop the current socket as dead and reconnect.
   * @private
   * @param {number} code
   * @param {string} reason
   * @param {number} [delay] ms before reconnecting (default: backoff)
   */
  drop(code, reason, delay) {
    const ws = this.ws;
    this.detach();
    try {
      ws?.close(code === 1006 ? 4000 : code, reason);
    } catch {
      /* ignore */
    }
    this.closeCode = code;
    if (!this.stopped) this.scheduleReconnect(code, reason, delay);
  }

  /**
   * @private
   * @param {Error} err
   */
  failAll(err) {
    for (const p of this.pending.values()) {
      this.timers.clearTimeout(p.timer);
      this.timers.clearTimeout(p.retryTimer);
      p.reject(err);
    }
    this.pending.clear();
    for (const r of this.rooms.values()) {
      for (const w of r.waiters.splice(0)) {
        this.timers.clearTimeout(w.timer);
        w.reject(err);
      }
    }
  }

  // ----------------------------------------------------------------- ping

  /**
   * (Re)arm the idle timer: a ping goes out after pingInterval without any
   * frame received. Called on open and on every frame received.
   * @private
   */
  schedulePing() {
    this.timers.clearTimeout(this.pingTimer);
    this.pingTimer = this.timers.setTimeout(() => {
      this.pingTimer = null;
      if (!this.ws || this.state !== 'open') return;
      this.sendPing(this.pongTimeout);
    }, this.pingInterval);
  }

  /**
   * Send a ping; unless a frame arrives within timeout, the connection is
   * dead: replace it.
   * @private
   * @param {number} timeout
   */
  sendPing(timeout) {
    const id = this.newId('p');
    this.pingId = id;
    this.write(JSON.stringify({ type: 'ping', id }));
    this.expectAnswer(timeout, 'pong timeout');
  }

  /**
   * A frame the server answers went out (ping, join, leave, send): unless
   * any frame arrives within timeout, the connection is dead — replace it.
   * An earlier deadline stands. For join, leave and send this costs no
   * frame, so with sparse pings (API Gateway) a member who acts on a dead
   * link still notices within pongTimeout.
   * @private
   * @param {number} timeout
   * @param {string} reason
   */
  expectAnswer(timeout, reason) {
    if (this.pongTimer !== null) return;
    this.pongTimer = this.timers.setTimeout(() => {
      this.pongTimer = null;
      this.drop(CLOSE_PING_TIMEOUT, reason);
    }, timeout);
  }

  /**
   * Something arrived: the link is alive.
   * @private
   */
  alive() {
    this.timers.clearTimeout(this.pongTimer);
    this.pongTimer = null;
    this.pingId = null;
    this.schedulePing();
  }

  // ---------------------------------------------------------------- rooms

  /**
   * Join a room (kept across reconnects until leave()). Resolves with the
   * `joined` frame; rejects with the server's error (e.g. `forbidden`, and
   * the room is forgotten) or `timeout` (the client keeps trying).
   * Joining a room already joined resolves with a fresh `joined`.
   * @param {string} room
   * @returns {Promise<Frame>}
   */
  join(room) {
    let r = this.rooms.get(room);
    if (!r) {
      r = { name: room, lastSeq: 0, everJoined: false, status: 'idle', waiters: [], held: new Map(), gapTimer: null };
      this.rooms.set(room, r);
    }
    const rs = r;
    return new Promise((resolve, reject) => {
      const w = { resolve, reject, timer: /** @type {any} */ (null) };
      w.timer = this.timers.setTimeout(() => {
        const i = rs.waiters.indexOf(w);
        if (i >= 0) rs.waiters.splice(i, 1);
        reject(new ClassgateError('timeout', `no answer to join ${room}`));
      }, this.ackTimeout);
      rs.waiters.push(w);
      if (this.state === 'open' && rs.status !== 'joining') this.sendJoin(rs);
    });
  }

  /**
   * Leave a room: forget it and reject its unacknowledged sends with code
   * `left`. Resolves when the server acknowledges, or at once when not
   * connected.
   * @param {string} room
   * @returns {Promise<void>}
   */
  leave(room) {
    const r = this.rooms.get(room);
    this.rooms.delete(room);
    this.subs.delete(room);
    this.resyncing?.delete(room);
    const err = new ClassgateError('left', `left ${room}`);
    if (r) {
      this.dropHeld(r);
      for (const w of r.waiters.splice(0)) {
        this.timers.clearTimeout(w.timer);
        w.reject(err);
      }
    }
    for (const p of [...this.pending.values()]) {
      if (p.room === room) this.settle(p.id)?.reject(err);
    }
    if (!this.ws || this.state !== 'open') return Promise.resolve();
    const id = this.newId('l');
    return new Promise((resolve) => {
      const timer = this.timers.setTimeout(() => {
        this.leaves.delete(id);
        resolve();
      }, this.ackTimeout);
      this.leaves.set(id, { resolve, timer });
      this.write(JSON.stringify({ type: 'leave', room, id }));
      this.expectAnswer(this.pongTimeout, 'no answer to leave');
    });
  }

  /**
   * The last durable seq applied in room (0 when none, undefined when the
   * room is not joined).
   * @param {string} room
   * @returns {number | undefined}
   */
  lastSeq(room) {
    return this.rooms.get(room)?.lastSeq;
  }

  /**
   * Rooms currently kept (joined or being joined).
   * @returns {string[]}
   */
  roomNames() {
    return [...this.rooms.keys()];
  }

  /**
   * A subscription object for one room: join it (kept across reconnects)
   * and get its events and actions in one place. Calling room() again for
   * the same name returns the same object until it leaves.
   * @example
   * const math = client.room('math-7');
   * math.on('chat.message', (f) => show(f.from, f.data.text));
   * await math.joined;
   * await math.send('chat.send', { text: 'hi' });
   * @param {string} name
   * @returns {Room}
   */
  room(name) {
    let r = this.subs.get(name);
    if (!r) {
      r = new Room(this, name);
      this.subs.set(name, r);
    }
    return r;
  }

  /**
   * @private
   * @param {RoomState} r
   */
  sendJoin(r) {
    if (!this.ws || this.state !== 'open') return;
    const id = this.newId('j');
    r.status = 'joining';
    r.joinId = id;
    /** @type {any} */
    const frame = { type: 'join', room: r.name, id };
    if (r.everJoined && !r.fresh) {
      frame.since = r.lastSeq;
      if (r.epoch) frame.epoch = r.epoch;
    }
    r.fresh = false;
    r.resetAnnounced = false;
    r.joinSince = frame.since;
    this.write(JSON.stringify(frame));
    this.expectAnswer(this.pongTimeout, 'no answer to join');
  }

  /**
   * @private
   * @param {Frame} f
   */
  onJoined(f) {
    const r = f.room ? this.rooms.get(f.room) : undefined;
    // Ignore a join we no longer wait for: left meanwhile, or superseded.
    if (!r || r.status !== 'joining' || (f.id !== undefined && f.id !== r.joinId)) return;
    const seq = typeof f.seq === 'number' ? f.seq : 0;
    const prevEpoch = r.epoch;
    if (typeof f.epoch === 'string') r.epoch = f.epoch;
    const epochChanged = prevEpoch !== undefined && typeof f.epoch === 'string' && f.epoch !== prevEpoch;
    if (r.joinSince === undefined) {
      // Fresh join: the join state that follows is as of (at least) seq.
      r.lastSeq = seq;
    } else if (seq < r.joinSince || epochChanged) {
      // The room's history restarted (e.g. a memory store restarted, the
      // store failed over): what we have is no longer comparable. Start
      // over from the join state; the server's `resync` that follows in
      // answer to this join is the same news, not announced twice.
      r.lastSeq = seq;
      r.resetAnnounced = true;
      this.dropHeld(r);
      this.emit('resync', { room: r.name, seq, reason: 'reset' });
    }
    // Otherwise keep lastSeq: the replay (since, seq] follows.
    r.status = 'joined';
    r.everJoined = true;
    r.joinId = undefined;
    if (f.user) this.user = f.user;
    this.emit('joined', f);
    for (const w of r.waiters.splice(0)) {
      this.timers.clearTimeout(w.timer);
      w.resolve(f);
    }
    this.flush(r.name);
    if (this.resyncing) {
      this.resyncing.delete(r.name);
      if (this.resyncing.size === 0) {
        this.resyncing = null;
        this.setState('resynced', { rooms: this.roomNames() });
      }
    }
  }

  // ---------------------------------------------------------------- sends

  /**
   * Send a plugin frame and wait for its acknowledgement. Resolves with
   * `{id, seq}` on `ack`; rejects with a {@link ClassgateError} carrying the
   * server's code (`rejected`, `forbidden`, …; `rate_limited` and
   * `internal` only with sendRetryDelay 0 — otherwise the frame, which the
   * server did not apply, is sent again after a backoff), or
   * `closed`/`left` (close(), leave()), or `timeout` only when a
   * sendTimeout is set. While disconnected (or while the room is being
   * re-joined) the frame waits; after a reconnect it is sent again with the
   * same id, which the server deduplicates (within its dedupe window).
   * @param {string} type e.g. `chat.send`
   * @param {string} room a room passed to join()
   * @param {any} [data]
   * @param {{id?: string, timeout?: number}} [opts] a caller-chosen id (≤ 64
   *   characters) and a per-call timeout
   * @returns {Promise<Ack>}
   */
  send(type, room, data, opts = {}) {
    const id = opts.id || this.newId('m');
    if (this.closedByApp) {
      return Promise.reject(new ClassgateError('closed', 'client is closed'));
    }
    if (!this.rooms.has(room)) {
      return Promise.reject(new ClassgateError('not_joined', `join ${room} first`));
    }
    if (this.pending.has(id)) {
      return Promise.reject(new ClassgateError('bad_request', `id ${id} already pending`));
    }
    /** @type {any} */
    const frame = { type, room, id };
    if (data !== undefined) frame.data = data;
    return new Promise((resolve, reject) => {
      /** @type {Pending} */
      const p = { id, room, frame: JSON.stringify(frame), gen: 0, resolve, reject, timer: null, retries: 0, retryTimer: null };
      const timeout = opts.timeout ?? this.sendTimeout;
      if (timeout > 0) {
        p.timer = this.timers.setTimeout(() => {
          this.pending.delete(id);
          reject(new ClassgateError('timeout', `no answer to ${type} ${id}`));
        }, timeout);
      }
      this.pending.set(id, p);
      this.flush(room);
    });
  }

  /**
   * Send a frame without an id: no acknowledgement, not retried, dropped
   * when the connection or the room is not ready. For ephemeral,
   * high-rate frames (cursor moves, typing). Returns whether it was written.
   * @param {string} type
   * @param {string} room
   * @param {any} [data]
   * @returns {boolean}
   */
  notify(type, room, data) {
    const r = this.rooms.get(room);
    if (!this.ws || this.state !== 'open' || !r || r.status !== 'joined') return false;
    /** @type {any} */
    const frame = { type, room };
    if (data !== undefined) frame.data = data;
    this.write(JSON.stringify(frame));
    return true;
  }

  /**
   * Number of sends waiting for their answer.
   * @returns {number}
   */
  pendingCount() {
    return this.pending.size;
  }

  /**
   * Write the pending frames of room that were not written on this
   * connection yet, in the order they were sent.
   * @private
   * @param {string} room
   */
  flush(room) {
    const r = this.rooms.get(room);
    if (!this.ws || this.state !== 'open' || !r || r.status !== 'joined') return;
    for (const p of this.pending.values()) {
      if (p.room === room && p.gen !== this.gen) {
        p.gen = this.gen;
        this.write(p.frame);
        this.expectAnswer(this.pongTimeout, 'no answer to send');
      }
    }
  }

  /**
   * Send p again (same id) after a backoff: the server answered it
   * rate_limited or internal, so nothing of it was applied.
   * @private
   * @param {Pending} p
   */
  retryLater(p) {
    const delay = backoffDelay(
      p.retries,
      { initial: this.sendRetryDelay, max: 16 * this.sendRetryDelay, factor: 2, jitter: 0.5 },
      this.random,
    );
    p.retries++;
    this.timers.clearTimeout(p.retryTimer);
    p.retryTimer = this.timers.setTimeout(() => {
      p.retryTimer = null;
      if (this.pending.get(p.id) !== p) return; // answered, left or closed meanwhile
      p.gen = 0;
      this.flush(p.room);
    }, delay);
  }

  /**
   * @private
   * @param {string} id
   * @returns {Pending | undefined}
   */
  settle(id) {
    const p = this.pending.get(id);
    if (!p) return undefined;
    this.pending.delete(id);
    this.timers.clearTimeout(p.timer);
    this.timers.clearTimeout(p.retryTimer);
    return p;
  }

  /**
   * @private
   * @param {string} kind
   */
  newId(kind) {
    return `${this.idPrefix}-${kind}${this.nextId++}`;
  }

  /**
   * @private
   * @param {string} s
   */
  write(s) {
    try {
      this.ws.send(s);
    } catch (err) {
      // The socket is closing; its close event triggers the reconnect and
      // the frame is written again then (pending) or dropped (notify).
      this.emit('error', err);
    }
  }

  // -------------------------------------------------------------- receive

  /**
   * @private
   * @param {any} raw
   */
  onMessage(raw) {
    this.alive();
    /** @type {Frame} */
    let f;
    try {
      f = JSON.parse(typeof raw === 'string' ? raw : String(raw));
    } catch (err) {
      this.emit('error', new ClassgateError('bad_frame', 'server sent non-JSON', raw));
      return;
    }
    if (!f || typeof f.type !== 'string') {
      this.emit('error', new ClassgateError('bad_frame', 'server frame without type', f));
      return;
    }
    switch (f.type) {
      case 'joined':
        this.onJoined(f);
        return;
      case 'pong':
        return; // alive() above already counted it
      case 'ack': {
        const p = f.id ? this.settle(f.id) : undefined;
        if (p) {
          p.resolve(typeof f.seq === 'number' ? { id: p.id, seq: f.seq } : { id: p.id });
          return;
        }
        const l = f.id ? this.leaves.get(f.id) : undefined;
        if (l && f.id) {
          this.leaves.delete(f.id);
          this.timers.clearTimeout(l.timer);
          l.resolve();
        }
        return;
      }
      case 'error':
        this.onError(f);
        return;
      case 'resync':
        this.onResync(f);
        return;
      default:
        this.onEvent(f);
    }
  }

  /**
   * @private
   * @param {Frame} f
   */
  onError(f) {
    const err = new ClassgateError(f.code || 'internal', f.message, f);
    const retry = f.id ? this.pending.get(f.id) : undefined;
    if (retry && RETRIED.has(err.code) && this.sendRetryDelay > 0) {
      this.retryLater(retry);
      return;
    }
    const p = f.id ? this.settle(f.id) : undefined;
    if (p) {
      p.reject(err);
      return;
    }
    for (const r of this.rooms.values()) {
      if (f.id && r.joinId === f.id) {
        // The server refused the join: forget the room.
        this.rooms.delete(r.name);
        this.dropHeld(r);
        this.resyncing?.delete(r.name);
        for (const w of r.waiters.splice(0)) {
          this.timers.clearTimeout(w.timer);
          w.reject(err);
        }
        for (const q of [...this.pending.values()]) {
          if (q.room === r.name) this.settle(q.id)?.reject(err);
        }
        if (r.everJoined) this.emit('error', err);
        return;
      }
    }
    if (f.id && this.leaves.has(f.id)) {
      const l = this.leaves.get(f.id);
      this.leaves.delete(f.id);
      this.timers.clearTimeout(l?.timer);
      l?.resolve();
      return;
    }
    this.emit('error', err);
  }

  /**
   * The server could not replay what this client missed: in answer to a
   * join (right after `joined`, in the same epoch), the join state frames
   * that follow describe the room completely. A resync naming another
   * epoch than the room's comes outside a join: the room's sequence
   * restarted or went back (the store lost data), so re-join without since
   * for a fresh join state. Events after seq may be applied meanwhile.
   * @private
   * @param {Frame} f
   */
  onResync(f) {
    const r = f.room ? this.rooms.get(f.room) : undefined;
    if (!r) return;
    const live = r.status === 'joined' && typeof f.epoch === 'string' && r.epoch !== undefined && f.epoch !== r.epoch;
    if (typeof f.seq === 'number') r.lastSeq = f.seq;
    if (typeof f.epoch === 'string') r.epoch = f.epoch;
    this.dropHeld(r);
    if (r.resetAnnounced && !live) {
      r.resetAnnounced = false;
      return;
    }
    this.emit('resync', { room: r.name, seq: r.lastSeq, reason: live ? 'reset' : 'history' });
    if (live && this.rooms.get(r.name) === r) {
      r.fresh = true;
      this.sendJoin(r);
    }
  }

  /**
   * A room event: ephemeral ones pass through; durable ones (seq > 0) are
   * delivered only in order, exactly once.
   * @private
   * @param {Frame} f
   */
  onEvent(f) {
    const r = f.room ? this.rooms.get(f.room) : undefined;
    if (!r || typeof f.seq !== 'number' || f.seq <= 0) {
      this.deliver(f);
      return;
    }
    if (f.seq <= r.lastSeq) return; // duplicate (replay overlap, resend)
    if (f.seq === r.lastSeq + 1) {
      r.lastSeq = f.seq;
      this.deliver(f);
      this.drainHeld(r);
      return;
    }
    // Gap: never deliver out of order. Hold the event; if the missing ones
    // do not arrive within gapWait, re-join with since so that the server
    // replays lastSeq+1 … (held events then come again, or are used).
    if (r.held.size < 1000) r.held.set(f.seq, f);
    if (this.gapWait <= 0 || r.held.size >= 1000) {
      this.rejoinForGap(r);
    } else if (r.gapTimer === null) {
      r.gapTimer = this.timers.setTimeout(() => {
        r.gapTimer = null;
        if (r.held.size > 0) this.rejoinForGap(r);
      }, this.gapWait);
    }
  }

  /**
   * @private
   * @param {RoomState} r
   */
  rejoinForGap(r) {
    // Already re-joining: its replay fills the gap.
    if (r.status === 'joined' && this.rooms.get(r.name) === r) this.sendJoin(r);
  }

  /**
   * Deliver the held events that are now in order.
   * @private
   * @param {RoomState} r
   */
  drainHeld(r) {
    if (r.held.size === 0) return;
    for (let next = r.held.get(r.lastSeq + 1); next; next = r.held.get(r.lastSeq + 1)) {
      r.held.delete(r.lastSeq + 1);
      r.lastSeq++;
      this.deliver(next);
    }
    for (const seq of r.held.keys()) if (seq <= r.lastSeq) r.held.delete(seq);
    if (r.held.size === 0) {
      this.timers.clearTimeout(r.gapTimer);
      r.gapTimer = null;
    }
  }

  /**
   * @private
   * @param {RoomState} r
   */
  dropHeld(r) {
    r.held.clear();
    this.timers.clearTimeout(r.gapTimer);
    r.gapTimer = null;
  }

  /**
   * @private
   * @param {Frame} f
   */
  deliver(f) {
    this.emit('message', f);
    this.emit(f.type, f);
  }
}

/**
 * One room of a {@link Client}: its events (frames, `joined` and `resync`
 * of this room only; `state` and `error` are the connection's) and its
 * actions. Made by {@link Client#room}.
 */
export class Room {
  /**
   * @param {Client} client
   * @param {string} name
   */
  constructor(client, name) {
    /** @readonly */ this.name = name;
    /** @private */ this.client = client;
    /** @private @type {Map<string, Map<Function, Function>>} */ this.wrapped = new Map();
    /**
     * Settles with the first `joined` (or the refusal). The room stays
     * joined across reconnects until leave().
     * @type {Promise<Frame>}
     */
    this.joined = client.join(name);
    this.joined.catch(() => {}); // observed through the promise, if at all
  }

  /**
   * Subscribe to this room's events of that name.
   * @param {string} name
   * @param {(payload: any) => void} fn
   * @returns {() => void} unsubscribe
   */
  on(name, fn) {
    const own = name === 'state' || name === 'error';
    const w = own
      ? fn
      : (/** @type {any} */ p) => {
          if (p && p.room === this.name) fn(p);
        };
    let m = this.wrapped.get(name);
    if (!m) this.wrapped.set(name, (m = new Map()));
    m.set(fn, w);
    this.client.on(name, /** @type {(p: any) => void} */ (w));
    return () => this.off(name, fn);
  }

  /**
   * Subscribe for the next event of that name in this room only.
   * @param {string} name
   * @param {(payload: any) => void} fn
   * @returns {() => void} unsubscribe (before it fired)
   */
  once(name, fn) {
    /** @type {((p: any) => void) & {listener?: Function}} */
    const w = (p) => {
      this.off(name, w);
      fn(p);
    };
    w.listener = fn; // so that off(name, fn) finds it
    return this.on(name, w);
  }

  /**
   * Unsubscribe a listener given to on() or once().
   * @param {string} name
   * @param {(payload: any) => void} fn
   */
  off(name, fn) {
    const m = this.wrapped.get(name);
    if (!m) return;
    for (const [key, w] of [...m]) {
      if (key !== fn && /** @type {any} */ (key).listener !== fn) continue;
      m.delete(key);
      this.client.off(name, /** @type {(p: any) => void} */ (w));
    }
  }

  /**
   * {@link Client#send} to this room.
   * @param {string} type
   * @param {any} [data]
   * @param {{id?: string, timeout?: number}} [opts]
   * @returns {Promise<Ack>}
   */
  send(type, data, opts) {
    return this.client.send(type, this.name, data, opts);
  }

  /**
   * {@link Client#notify} to this room.
   * @param {string} type
   * @param {any} [data]
   * @returns {boolean}
   */
  notify(type, data) {
    return this.client.notify(type, this.name, data);
  }

  /** The last durable seq applied in this room. */
  get lastSeq() {
    return this.client.lastSeq(this.name) ?? 0;
  }

  /**
   * Leave the room and drop this object's listeners.
   * @returns {Promise<void>}
   */
  leave() {
    for (const [name, m] of this.wrapped) {
      for (const w of m.values()) this.client.off(name, /** @type {(p: any) => void} */ (w));
    }
    this.wrapped.clear();
    /** @type {any} */ (this.client).subs.delete(this.name);
    return this.client.leave(this.name);
  }
}

/**
 * The `exp` claim (Unix seconds) of a JWT, 0 when unreadable.
 * @param {string} jwt
 * @returns {number}
 */
export function tokenExpiry(jwt) {
  try {
    const part = jwt.split('.')[1];
    if (!part) return 0;
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const json = typeof atob === 'function' ? atob(b64) : '';
    const p = JSON.parse(json);
    return typeof p.exp === 'number' ? p.exp : 0;
  } catch {
    return 0;
  }
}

/**
 * The default authCheck: a plain GET of the endpoint with the token. The
 * gateway verifies the token before the WebSocket upgrade, so a refused
 * token gets 401 (403 from an API Gateway authorizer) and a good one another
 * status (400/426: not an upgrade). Network errors (and cross-origin
 * answers without CORS) are `unknown`: the client keeps retrying.
 * @param {string} httpURL
 * @returns {Promise<'refused' | 'ok' | 'unknown'>}
 */
async function defaultAuthCheck(httpURL) {
  if (typeof fetch !== 'function') return 'unknown';
  const res = await fetch(httpURL, { cache: 'no-store', credentials: 'omit', redirect: 'manual' });
  if (res.status === 401 || res.status === 403) return 'refused';
  return res.status > 0 ? 'ok' : 'unknown';
}

/**
 * Convenience: create a Client and connect it.
 * @param {ClientOptions} opts
 * @returns {Client}
 */
export function connect(opts) {
  const c = new Client(opts);
  c.connect();
  return c;
}
