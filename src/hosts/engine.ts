/**
 * The peer host on the completion engine: `serve()` frames every connection, runs the
 * application's `onFrame` as its (synchronous) handler, and batches what it sends.
 *
 * @module
 */

import { type Connection, serve } from "../engine/server.ts";
import { FramingError } from "../framing/errors.ts";
import type { Addr } from "../runtime/types.ts";
import { DEFAULT_HIGH_WATER_MARK } from "./_socket_peer.ts";
import type { Peer, PeerHost, PeerHostOptions } from "./types.ts";

/**
 * Options of the engine host.
 *
 * @example
 * ```ts
 * import type { EngineHostOptions } from "sockmodels/hosts";
 * import { lengthPrefixed } from "sockmodels/framing";
 * const options: EngineHostOptions = { port: 0, codec: lengthPrefixed(), app: { onFrame() {} }, workers: 4 };
 * ```
 */
export interface EngineHostOptions extends PeerHostOptions {
  /** Frames handled at once across all clients (the engine's `workers`). Default 2 × cores. */
  workers?: number;
}

/** How long closing the host lets clients take what is queued for them before resetting them. */
const CLOSE_GRACE_MS = 2000;

class EnginePeer implements Peer {
  readonly id: number;
  readonly remoteAddr: Addr;
  data: unknown = undefined;
  #closing = false;
  readonly #conn: Connection;

  constructor(conn: Connection) {
    this.#conn = conn;
    this.id = conn.id;
    this.remoteAddr = conn.remoteAddr;
  }

  /** True once the application closed it, or the engine can no longer send to it. */
  get closing(): boolean {
    return this.#closing || !this.#conn.writable;
  }

  set closing(value: boolean) {
    this.#closing = value;
  }

  send(frame: Uint8Array): void {
    if (!this.closing) this.#conn.send(frame);
  }

  get unsentBytes(): number {
    return this.#conn.bufferedAmount;
  }

  close(): void {
    if (this.closing) return;
    this.closing = true;
    void this.#conn.close();
  }

  reset(): void {
    this.closing = true;
    this.#conn.reset();
  }

  pause(): void {
    this.#conn.pause();
  }

  resume(): void {
    this.#conn.resume();
  }
}

/**
 * Starts a peer host on the engine (`serve()`).
 *
 * @example
 * ```ts
 * import { delimited } from "sockmodels/framing";
 * const host = await startEngineHost({
 *   port: 0,
 *   codec: delimited(),
 *   app: { onFrame: (peer, line) => peer.send(line) },
 * });
 * await host.close();
 * ```
 */
export async function startEngineHost(options: EngineHostOptions): Promise<PeerHost> {
  const { app } = options;
  const highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
  const peers = new Map<number, EnginePeer>();
  const peerOf = (conn: Connection): EnginePeer => {
    let peer = conn.data as EnginePeer | undefined;
    if (!peer) {
      peer = new EnginePeer(conn);
      conn.data = peer;
      peers.set(conn.id, peer);
    }
    return peer;
  };
  const server = await serve({
    transport: options.transport,
    host: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
    framer: options.codec,
    workers: options.workers,
    // Infinity: the application decides what a slow client costs, and the engine never pauses one.
    highWaterMark: highWaterMark === Infinity ? Number.MAX_SAFE_INTEGER : highWaterMark,
    onOpen(conn) {
      app.onOpen?.(peerOf(conn));
    },
    onMessage(conn, frame) {
      const peer = peerOf(conn);
      if (!peer.closing) app.onFrame(peer, frame);
    },
    onEvent(event) {
      if (event.type !== "error" || !(event.error instanceof FramingError)) return;
      // A framing error: the engine closes the connection gracefully right after this.
      const peer = peers.get(event.connectionId!);
      if (!peer || peer.closing) return;
      app.onFrameError?.(peer, event.error);
      peer.closing = true;
    },
    onClose(conn, error) {
      const peer = peerOf(conn);
      peers.delete(conn.id);
      peer.closing = true;
      app.onClose?.(peer, error);
    },
  });
  return {
    addr: server.addr,
    async close() {
      const timer = setTimeout(() => {
        for (const peer of peers.values()) peer.reset();
      }, CLOSE_GRACE_MS);
      try {
        await server.close();
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
