/**
 * The types of `serve()`: its options, the connection a handler sees, the server, its
 * events and its statistics.
 *
 * @module
 */

import type { NetErrorCode } from "../runtime/errors.ts";
import type { FrameCodec } from "../framing/types.ts";
import type { ProxyHeader } from "../runtime/proxy_header.ts";
import type { Addr, TlsInfo, TlsServerOptions, Transport } from "../runtime/types.ts";

/**
 * A connection as the handler sees it.
 *
 * @example
 * ```ts
 * const onMessage = (conn: Connection, frame: Uint8Array) => { conn.send(frame); };
 * ```
 */
export interface Connection {
  /** A process-unique connection id, also used in events. */
  readonly id: number;
  /** The peer's address. */
  readonly remoteAddr: Addr;
  /** What the TLS handshake settled (protocol, ALPN, the client's certificate); undefined on plain TCP. */
  readonly tls: TlsInfo | undefined;
  /** The PROXY header the connection opened with, behind a balancer (`proxyProtocol`); `remoteAddr` is its client. */
  readonly proxy: ProxyHeader | undefined;
  /** Free for the application's per-connection state. */
  data: unknown;
  /**
   * Encodes `frame` with the server's framer and queues it. False above the high water mark.
   * Throws a NetError: ENOTCONN once the connection closed, EPIPE once its sending side was
   * ended (after the peer's FIN and every frame handled, a `close()`, or a protocol error).
   */
  send(frame: Uint8Array): boolean;
  /** Flushes and closes. */
  close(): Promise<void>;
  /** Aborts at once: what is queued is dropped, and the peer sees a reset where the runtime can send one. */
  reset(): void;
  /**
   * False once `send` would throw: the connection closed, or its sending side was ended or
   * failed. A server that sends to many connections (a broadcast) checks this first.
   */
  readonly writable: boolean;
  /**
   * Stops reading from this connection until `resume`: frames already read are still handled,
   * then no more arrive, and TCP slows the peer down.
   */
  pause(): void;
  /** Reads from this connection again after `pause` (unless the engine itself holds it). */
  resume(): void;
  /** Bytes queued for this connection and not yet taken by the OS. */
  readonly bufferedAmount: number;
}

/**
 * What the `onEvent` hook receives.
 *
 * @example
 * ```ts
 * import { NetError } from "sockmodels/errors";
 * const onEvent = (e: ServerEvent) => {
 *   const code = e.error instanceof NetError ? e.error.code : e.error?.name;
 *   console.log(e.type, e.connectionId, code);
 * };
 * ```
 */
export interface ServerEvent {
  /** open, close, error (a protocol or handler error), idle, slow (slow reader), rejected, aborted. */
  type: "open" | "close" | "error" | "idle" | "slow" | "rejected" | "aborted";
  /** The connection, where there is one. */
  connectionId?: number;
  /** The error, for close, error, idle and slow. */
  error?: Error;
  /** How many frames, for aborted. */
  frames?: number;
}

/**
 * Live counters of a server.
 *
 * @example
 * ```ts
 * import type { Server } from "sockmodels/engine";
 * declare const server: Server;
 * setInterval(() => console.log(server.stats.framesIn, server.stats.queueDepth), 1000);
 * ```
 */
export interface ServerStats {
  /** Open connections. */
  connections: number;
  /** Connections accepted since start. */
  connectionsTotal: number;
  /** Connections refused by `maxConnections`. */
  rejected: number;
  /** Frames decoded. */
  framesIn: number;
  /** Frames sent. */
  framesOut: number;
  /** Bytes received. */
  bytesIn: number;
  /** Payload bytes sent (without headers). */
  bytesOut: number;
  /** Frames waiting for a worker. */
  queueDepth: number;
  /** Handlers running now (asynchronous ones). */
  busyWorkers: number;
  /** Frames dropped unhandled by an aborting shutdown, or by a connection that closed first. */
  abortedFrames: number;
  /** Errors by code (NetError codes, framing codes, "EHANDLER" for handler errors). */
  errors: Record<string, number>;
}

/**
 * Options of {@linkcode serve}.
 *
 * @example
 * ```ts
 * import { lengthPrefixed } from "sockmodels/framing";
 * const options: ServeOptions = {
 *   port: 9000,
 *   framer: lengthPrefixed({ lengthFieldLength: 4 }),
 *   onMessage: (conn, frame) => void conn.send(frame),
 * };
 * ```
 */
export interface ServeOptions {
  /** The address to bind. Default 127.0.0.1. */
  host?: string;
  /** The port; 0 for an ephemeral one. */
  port: number;
  /** The transport. Default: the runtime's own. */
  transport?: Transport;
  /**
   * Serve TLS: every connection finishes its handshake before `onOpen`, and a handshake that
   * fails or stalls closes that connection only. Throws a `NetError` (ENOTSUP) if the
   * transport has no TLS here.
   */
  tls?: TlsServerOptions;
  /** The framing codec. */
  framer: FrameCodec;
  /**
   * Called with every frame. May return a promise; its slot is held until it settles.
   * Not used with `threads`.
   */
  onMessage?(conn: Connection, frame: Uint8Array): void | Promise<void>;
  /**
   * Lend frames to `onMessage` instead of giving them: a frame is valid until `onMessage`
   * returns (for an async handler, until its first `await`), and a handler copies whatever it
   * keeps longer (`frame.slice()`). `conn.send(frame)` inside the handler is safe. The engine
   * then reads into a buffer it reuses where the runtime allows it (Deno), which saves a copy
   * of every read, and copies itself only the frames that must wait for their turn. With a
   * decoder that may keep views of its input (`FrameDecoder.copiesIncompleteFrames` unset, as
   * `delimited`), every read is copied as before. Default false.
   */
  loanFrames?: boolean;
  /**
   * Runs each frame in a pool of real threads instead: `module` exports a handler
   * `(frame: Uint8Array, ctx) => Uint8Array | undefined` whose result, if any, is sent back on
   * the connection. Frames go to the threads in batches, keyed by connection so each
   * connection's frames stay in order. `workers` then bounds the frames in flight.
   */
  threads?: { module: URL | string; size?: number; maxQueue?: number };
  /** Called when a connection opens. */
  onOpen?(conn: Connection): void;
  /** Called when a connection closes, with the reason if it failed. */
  onClose?(conn: Connection, error?: Error): void;
  /** Concurrent asynchronous handlers. Default 2 x CPUs (seed 002's N = C x (1 + wait/compute)). */
  workers?: number;
  /** "per-connection" (default): one frame at a time per connection, in order. "none": any order. */
  ordering?: "per-connection" | "none";
  /** Further connections are reset at once. Default unlimited. */
  maxConnections?: number;
  /** Close a connection that received nothing for this long, with ETIMEDOUT. */
  idleTimeoutMs?: number;
  /** A connection's unsent bytes above this make it a slow reader. Default 1 MiB. */
  highWaterMark?: number;
  /** What to do with a slow reader: stop reading from it until it drains (default), or close it. */
  slowReader?: "pause" | "close";
  /** Frames queued across all connections before reading pauses. Default 65,536. */
  queueLimit?: number;
  /** Aborting closes the server like `close({ mode: "abort" })`. */
  signal?: AbortSignal;
  /** Every connection event, with its id, for logging and metrics. */
  onEvent?(event: ServerEvent): void;
}

/**
 * A running server.
 *
 * @example
 * ```ts
 * import type { FrameCodec } from "sockmodels/framing";
 * import { serve } from "sockmodels/engine";
 * declare const framer: FrameCodec;
 * await using server = await serve({ port: 0, framer, onMessage: (c, f) => void c.send(f) });
 * console.log(server.addr.port, server.stats.connections);
 * ```
 */
export interface Server extends AsyncDisposable {
  /** The bound address. */
  readonly addr: Addr;
  /** Live counters. */
  readonly stats: ServerStats;
  /**
   * Stops accepting; with mode "drain" (default) finishes queued and running frames (up to
   * `timeoutMs`, default 5 s, after which the rest are aborted), flushes and closes every
   * connection. Mode "abort" drops queued frames at once (counted in `abortedFrames`).
   */
  close(options?: { mode?: "drain" | "abort"; timeoutMs?: number }): Promise<void>;
}

/** Error codes that can appear in `stats.errors`, besides framing codes and EHANDLER. */
export type EngineErrorCode = NetErrorCode | "EHANDLER" | "EPROTOCOL";
