/**
 * The peer host on the completion engine: `serve()` frames every connection, runs the
 * application's `onFrame` as its (synchronous) handler, and batches what it sends.
 *
 * @module
 */

import { type Connection, serve } from "../engine/server.ts";
import { FramingError } from "../framing/errors.ts";
import { defaultTransport } from "../runtime/detect.ts";
import type { Addr, Listener, ListenOptions, Transport } from "../runtime/types.ts";
import type { Peer, PeerHost, PeerHostOptions } from "./peer_host.ts";
import { DelegatingStream } from "./delegating_stream.ts";

/** How long closing the host lets clients take what is queued for them before resetting them. */
const CLOSE_GRACE_MS = 2000;

/**
 * The stream the engine gets: it remembers when the engine ended it (after the client's FIN),
 * since the engine's `Connection.send` would then fail later, when its batch is written.
 */
class EndWatchingStream extends DelegatingStream {
  ended = false;
  override end(): void {
    this.ended = true;
    super.end();
  }
  override close(): Promise<void> {
    this.ended = true;
    return super.close();
  }
}

class EnginePeer implements Peer {
  readonly id: number;
  readonly remoteAddr: Addr;
  data: unknown = undefined;
  #closing = false;
  readonly #conn: Connection;
  readonly #stream: EndWatchingStream | undefined;

  constructor(conn: Connection, stream: EndWatchingStream | undefined) {
    this.#conn = conn;
    this.#stream = stream;
    this.id = conn.id;
    this.remoteAddr = conn.remoteAddr;
  }

  get closing(): boolean {
    return this.#closing || this.#stream?.ended === true;
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
    this.#stream?.pause(); // nothing more is read from a client that is being closed
    void this.#conn.close();
  }

  reset(): void {
    this.closing = true;
    if (this.#stream) this.#stream.reset();
    else void this.#conn.close();
  }
}

/**
 * A transport whose listeners also report every stream they accept, so that the host can
 * reset a connection (the engine's `Connection` only closes gracefully).
 */
function trackingTransport(transport: Transport, streams: Map<number, EndWatchingStream>): Transport {
  return {
    name: transport.name,
    capabilities: transport.capabilities,
    connect: (options) => transport.connect(options),
    bindDatagram: (options) => transport.bindDatagram(options),
    listen(options: ListenOptions): Promise<Listener> {
      return transport.listen({
        ...options,
        onAccept(stream) {
          const watched = new EndWatchingStream(stream);
          streams.set(stream.id, watched);
          options.onAccept(watched);
        },
      });
    },
  };
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
export async function startEngineHost(options: PeerHostOptions): Promise<PeerHost> {
  const { app } = options;
  const streams = new Map<number, EndWatchingStream>();
  const peers = new Map<number, EnginePeer>();
  const transport = trackingTransport(options.transport ?? await defaultTransport(), streams);
  const peerOf = (conn: Connection): EnginePeer => {
    let peer = peers.get(conn.id);
    if (!peer) {
      peer = new EnginePeer(conn, streams.get(conn.id));
      peers.set(conn.id, peer);
    }
    return peer;
  };
  const server = await serve({
    transport,
    host: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
    framer: options.codec,
    // The application decides what a slow client costs; the engine never pauses one.
    highWaterMark: Number.MAX_SAFE_INTEGER,
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
      streams.delete(conn.id);
      peer.closing = true;
      app.onClose?.(peer, error);
    },
  });
  return {
    addr: server.addr,
    async close() {
      const timer = setTimeout(() => {
        for (const stream of streams.values()) stream.reset();
      }, CLOSE_GRACE_MS);
      try {
        await server.close();
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
