// Type declarations for classgate.js, the client of the classgate wire
// protocol v1. Keep in sync with the JSDoc in classgate.js.

export declare const PROTOCOL_VERSION: 1;

/** Close codes after which the client does not reconnect by itself. */
export declare const FATAL_CLOSE_CODES: readonly number[];

/** Close code the client uses when it gives up on a silent connection. */
export declare const CLOSE_PING_TIMEOUT: 4000;

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
  /** ms until send()/join() reject with `timeout`. Default 20000. */
  ackTimeout?: number;
  /** ms between application pings. Default 60000. */
  pingInterval?: number;
  /** ms to wait for a pong. Default 20000. */
  pongTimeout?: number;
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
  reason?: string;
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

  on<K extends keyof EventMap>(name: K, fn: (payload: EventMap[K]) => void): () => void;
  /** Any frame type, e.g. `chat.message`. */
  on(name: string, fn: (frame: Frame) => void): () => void;
  off(name: string, fn: (payload: any) => void): void;

  connect(): void;
  close(code?: number, reason?: string): void;
  reconnectNow(): void;

  join(room: string): Promise<JoinedFrame>;
  leave(room: string): Promise<void>;
  lastSeq(room: string): number | undefined;
  roomNames(): string[];

  send(type: string, room: string, data?: unknown, opts?: { id?: string; timeout?: number }): Promise<Ack>;
  notify(type: string, room: string, data?: unknown): boolean;
  pendingCount(): number;
}

/** Create a Client and connect it. */
export declare function connect(opts: ClientOptions): Client;
