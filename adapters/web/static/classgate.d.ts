// Type declarations for classgate.js, the client of the classgate wire
// protocol v1. Keep in sync with the JSDoc in classgate.js.

export declare const PROTOCOL_VERSION: 1;

/** Close codes after which the client does not reconnect by itself. */
export declare const FATAL_CLOSE_CODES: readonly number[];

/** Close code the client uses when it gives up on a silent connection. */
export declare const CLOSE_PING_TIMEOUT: 4000;

/** Codes of an auth stop (event `error`, `reason` of the `closed` state). */
export type AuthErrorCode = 'unauthorized' | 'token_expired' | 'removed' | 'policy';

/** The auth stop codes: a refused handshake, and by close code. */
export declare const AUTH_ERROR_CODES: Readonly<{
  unauthorized: 'unauthorized';
  4001: 'token_expired';
  4003: 'removed';
  1008: 'policy';
}>;

/** Defaults of the timing options, in ms. */
export declare const DEFAULTS: Readonly<{
  ackTimeout: number;
  sendTimeout: number;
  pingInterval: number;
  pongTimeout: number;
  connectTimeout: number;
  gapWait: number;
  refreshBefore: number;
  sendRetryDelay: number;
}>;

/** The deployments a client can reach, keys of {@link DEPLOYMENTS}. */
export type Deployment = 'standalone' | 'apigateway';

/**
 * Client options per deployment: `standalone` the defaults; `apigateway`
 * (AWS API Gateway's WebSocket API: billed client frames, 10-minute idle
 * timeout) a ping after 5 minutes without any frame received.
 */
export declare const DEPLOYMENTS: Readonly<Record<Deployment, Readonly<Pick<ClientOptions, 'pingInterval'>>>>;

/**
 * The deployment a WebSocket URL reaches: `name` when given, else
 * `apigateway` for API Gateway's own host names
 * (`<id>.execute-api.<region>.amazonaws.com`), else `standalone`.
 * Throws a RangeError for a name that is not a Deployment.
 */
export declare function deploymentOf(url: string, name?: string | null): Deployment;

/** The `exp` claim (Unix seconds) of a JWT, 0 when unreadable. */
export declare function tokenExpiry(jwt: string): number;

/** Error codes of the protocol, plus the client's own. */
export type ErrorCode =
  | 'bad_request'
  | 'too_large'
  | 'unknown_type'
  | 'not_joined'
  | 'forbidden'
  | 'rate_limited'
  | 'rejected'
  | 'plugin_error'
  | 'internal'
  // client-side
  | AuthErrorCode
  | 'timeout'
  | 'closed'
  | 'left'
  | 'bad_frame'
  | (string & {});

export declare class ClassgateError extends Error {
  constructor(code: ErrorCode, message?: string, frame?: unknown);
  readonly name: 'ClassgateError';
  /** Protocol error code or a client code (timeout, closed, left). */
  code: ErrorCode;
  /** The server's message, when there is one. */
  detail: string;
  /** The server frame, when there is one. */
  frame: unknown;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface BackoffOptions {
  /** First delay in ms. Default 500. */
  initial?: number;
  /** Upper bound in ms. Default 30000. */
  max?: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
  /** Random fraction of the delay, 0..1. Default 0.5. */
  jitter?: number;
}

export interface WebSocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code?: number; reason?: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export interface ClientOptions {
  /** WebSocket endpoint without the token (gateway `/ws` or API Gateway stage URL). */
  url: string | (() => string);
  /** The JWT, or a function called before every (re)connect. */
  token: string | (() => string | Promise<string>);
  /** WebSocket constructor; defaults to globalThis.WebSocket. */
  WebSocket?: new (url: string) => WebSocketLike;
  /** ms until join() rejects with `timeout` (the client keeps trying). Default 20000. */
  ackTimeout?: number;
  /**
   * ms until send() rejects with `timeout`; 0 (default): never — a send
   * waits, across reconnects and auth stops, for the server's answer, or
   * close()/leave().
   */
  sendTimeout?: number;
  /**
   * ms before a send answered `rate_limited` or `internal` (nothing
   * applied) is sent again with the same id; doubles per retry up to 16×,
   * with jitter; the send keeps waiting. 0: it rejects with the code.
   * Default 500.
   */
  sendRetryDelay?: number;
  /** ms without any frame received before a ping. Default 10000. */
  pingInterval?: number;
  /** ms to wait for any frame after a ping before the link is dead. Default 10000. */
  pongTimeout?: number;
  /** ms for a connection attempt to open before it is retried. Default 10000. */
  connectTimeout?: number;
  /**
   * Tells a refused token from a network failure after an attempt that
   * failed before opening. Default: GET the endpoint over http(s) with the
   * token; 401/403 means refused. `false` disables.
   */
  authCheck?: false | ((httpURL: string) => Promise<'refused' | 'ok' | 'unknown'>);
  /** With a token function: ms before `exp` to get a new token and reconnect. Default 60000; 0 disables. */
  refreshBefore?: number;
  /** Wall clock in ms (tests). */
  now?: () => number;
  /** ms to hold out-of-order events waiting for a gap to fill before re-joining. Default 1000; 0 re-joins at once. */
  gapWait?: number;
  backoff?: BackoffOptions;
  /** Reconnect attempts in a row before giving up. Default Infinity. */
  maxRetries?: number;
  random?: () => number;
  timers?: Timers;
  /** Prefix of client message ids. Random by default. */
  idPrefix?: string;
}

export interface User {
  id: string;
  name?: string;
  role?: string;
}

/** A frame from the server. */
export interface Frame<D = any> {
  type: string;
  room?: string;
  id?: string;
  /** Durable events only: the room's sequence number. */
  seq?: number;
  /** Unix milliseconds, set by the gateway. */
  ts?: number;
  from?: User;
  data?: D;
  code?: string;
  message?: string;
  /** `joined` and `resync`: the epoch of the room's sequence. */
  epoch?: string;
}

/** The answer to a join. */
export interface JoinedFrame extends Frame {
  type: 'joined';
  room: string;
  seq: number;
  connection_id?: string;
  user?: User;
  features?: string[];
}

export interface Ack {
  id: string;
  /** Seq of the event the frame produced (durable frames). */
  seq?: number;
}

export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface StateEvent {
  state: 'connecting' | 'open' | 'reconnecting' | 'resynced' | 'closed';
  code?: number;
  /** Close reason; for an auth stop, its {@link AuthErrorCode}. */
  reason?: string;
  /** Closed because of the token or a removal: get a new token, then connect(). */
  auth?: boolean;
  attempt?: number;
  delay?: number;
  rooms?: string[];
}

export interface ResyncEvent {
  room: string;
  seq: number;
  /**
   * `history`: the server answered a join with `resync`; `reset`: the
   * room's sequence restarted or went back (a `resync` outside a join, or
   * joined.seq below since) — the client re-joins for a fresh join state.
   */
  reason: 'history' | 'reset';
}

export interface EventMap {
  state: StateEvent;
  message: Frame;
  joined: JoinedFrame;
  resync: ResyncEvent;
  error: Error;
}

/** A chat line as in `chat.history`. */
export interface ChatEntry {
  seq: number;
  from: User;
  text: string;
  /**
   * Unix ms: the host's clock when the chat plugin took the message (a few
   * ms before the broadcast's `ts`); absent in entries stored by a chat
   * plugin older than this field.
   */
  ts?: number;
}

/** A whiteboard element: opaque to the server, identified by `id`. */
export interface BoardElement {
  id: string;
  [field: string]: unknown;
}

/**
 * What the joining user's role may do on the board, as the whiteboard
 * plugin is configured (in its snapshot; absent from older plugins).
 */
export interface BoardRights {
  clear: boolean;
  /** Erase (or redraw) anyone's elements. */
  erase_any: boolean;
  /** Erase (or redraw) the elements this user drew. */
  erase_own: boolean;
}

/** The frames of the three classroom plugins, by type. */
export interface ClassroomEventMap {
  'chat.message': Frame<{ text: string }>;
  'chat.history': Frame<{ messages: ChatEntry[] }>;
  'chat.typing': Frame<Record<string, never>>;
  'whiteboard.draw': Frame<{ element: BoardElement }>;
  'whiteboard.erase': Frame<{ id: string }>;
  'whiteboard.clear': Frame<Record<string, never>>;
  'whiteboard.snapshot': Frame<{ elements: BoardElement[]; seq: number; can?: BoardRights }>;
  'whiteboard.cursor': Frame<{ x: number; y: number }>;
  'presence.state': Frame<{ users: Array<User & { status: string }> }>;
  'presence.join': Frame<{ user: User }>;
  'presence.leave': Frame<{ user: User }>;
  'presence.update': Frame<{ user: User; status: string }>;
}

/** Every event of a Client or Room with its payload type. */
export type ClientEventMap = EventMap & ClassroomEventMap;

/** One room of a Client: its events and actions (see Client.room). */
export declare class Room {
  readonly name: string;
  /** Settles with the first `joined`, or the refusal. */
  readonly joined: Promise<JoinedFrame>;
  /** The last durable seq applied in this room. */
  readonly lastSeq: number;
  /** This room's frames, `joined` and `resync`; `state` and `error` are the connection's. */
  on<K extends keyof ClientEventMap>(name: K, fn: (payload: ClientEventMap[K]) => void): () => void;
  on(name: string, fn: (frame: Frame) => void): () => void;
  once<K extends keyof ClientEventMap>(name: K, fn: (payload: ClientEventMap[K]) => void): () => void;
  once(name: string, fn: (frame: Frame) => void): () => void;
  /** Remove a listener added with on() (or once(), before it fired). */
  off<K extends keyof ClientEventMap>(name: K, fn: (payload: ClientEventMap[K]) => void): void;
  off(name: string, fn: (frame: Frame) => void): void;
  send(type: string, data?: unknown, opts?: { id?: string; timeout?: number }): Promise<Ack>;
  notify(type: string, data?: unknown): boolean;
  /** Leave the room and drop this object's listeners. */
  leave(): Promise<void>;
}

export declare function backoffDelay(
  attempt: number,
  opts: BackoffOptions,
  random: () => number,
): number;

export declare class Client {
  constructor(opts: ClientOptions);
  /** Current connection state. */
  state: ConnectionState;
  /** The token's user, from the last `joined`. */
  user: User | null;
  /** Close code of the last closed connection (0 before any). */
  closeCode: number;

  on<K extends keyof ClientEventMap>(name: K, fn: (payload: ClientEventMap[K]) => void): () => void;
  /** Any frame type, e.g. `chat.message`. */
  on(name: string, fn: (frame: Frame) => void): () => void;
  /** Like on(), for the next event only. */
  once<K extends keyof ClientEventMap>(name: K, fn: (payload: ClientEventMap[K]) => void): () => void;
  once(name: string, fn: (frame: Frame) => void): () => void;
  /** Remove a listener added with on() (or once(), before it fired). */
  off<K extends keyof ClientEventMap>(name: K, fn: (payload: ClientEventMap[K]) => void): void;
  off(name: string, fn: (frame: Frame) => void): void;

  connect(): void;
  close(code?: number, reason?: string): void;
  reconnectNow(): void;
  /** Ping now (when open; replaced unless a frame arrives within timeout) or reconnect now (when waiting). */
  checkConnection(timeout?: number): void;

  join(room: string): Promise<JoinedFrame>;
  leave(room: string): Promise<void>;
  lastSeq(room: string): number | undefined;
  roomNames(): string[];
  /** Join a room (kept across reconnects) and get its subscription object; one per room until it leaves. */
  room(name: string): Room;

  send(type: string, room: string, data?: unknown, opts?: { id?: string; timeout?: number }): Promise<Ack>;
  notify(type: string, room: string, data?: unknown): boolean;
  pendingCount(): number;
}

/** Create a Client and connect it. */
export declare function connect(opts: ClientOptions): Client;
