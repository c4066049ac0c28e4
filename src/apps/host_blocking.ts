/**
 * The peer host on blocking sockets (seed 001's thread-per-client chat): one task per client
 * that waits in `recv` and hands what arrives to the application, and, for each client, a
 * sending task that waits in `send` for what the application queued, so that a client that
 * reads slowly holds up nobody else.
 *
 * @module
 */

import { type BlockingSocket, listen, serveBlocking } from "../models/blocking.ts";
import { defaultTransport } from "../runtime/detect.ts";
import { closePeers } from "./close_peers.ts";
import { framedBytes, rawChunkCodec } from "./echo_framing.ts";
import type { PeerHost, PeerHostOptions } from "./peer_host.ts";
import { SocketPeer } from "./socket_peer.ts";

/** The sending task of one client and what waits for it. */
class Sender {
  #queue: Uint8Array[] = [];
  #bytes = 0;
  #running: Promise<void> | undefined;
  readonly #sock: BlockingSocket;
  readonly #onError: (error: Error) => void;

  constructor(sock: BlockingSocket, onError: (error: Error) => void) {
    this.#sock = sock;
    this.#onError = onError;
  }

  get bytes(): number {
    return this.#bytes;
  }

  push(bytes: Uint8Array): void {
    this.#queue.push(bytes);
    this.#bytes += bytes.byteLength;
    this.#running ??= this.#run();
  }

  /** Resolves once everything queued was sent (or sending failed). */
  drained(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  async #run(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        // Everything queued meanwhile goes out in one send (send copies it anyway).
        const chunk = this.#queue.length === 1 ? this.#queue[0] : framedBytes(rawChunkCodec(), this.#queue);
        this.#queue = [];
        this.#bytes -= chunk.byteLength;
        await this.#sock.send(chunk);
      }
    } catch (error) {
      this.#queue.length = 0;
      this.#bytes = 0;
      this.#onError(error as Error);
    } finally {
      this.#running = undefined;
    }
  }
}

/**
 * Starts a peer host on blocking sockets.
 *
 * @example
 * ```ts
 * import { delimited } from "sockmodels/framing";
 * const host = await startBlockingHost({ port: 0, codec: delimited(), app: { onFrame: (p, f) => p.send(f) } });
 * await host.close();
 * ```
 */
export async function startBlockingHost(options: PeerHostOptions): Promise<PeerHost> {
  const { app, codec } = options;
  const transport = options.transport ?? await defaultTransport();
  const listener = await listen({ transport, hostname: options.hostname ?? "127.0.0.1", port: options.port ?? 0 });
  const open = new Set<SocketPeer>();
  // Clients closed gracefully whose sending task is still at work.
  const draining = new Set<SocketPeer>();

  const serving = serveBlocking(listener, async (sock) => {
    const reading = new AbortController();
    let aborted = false;
    let finished!: () => void;
    const done = new Promise<void>((resolve) => (finished = resolve));
    const peer: SocketPeer = new SocketPeer(sock.remoteAddr, codec, app, {
      trySend(bytes) {
        sender.push(bytes);
        return bytes.byteLength;
      },
      socketQueued: () => sender.bytes + sock.core.sendQueued,
      finish(finishing, abort) {
        open.delete(finishing);
        reading.abort();
        if (abort) {
          aborted = true;
          sock.reset();
        } else {
          draining.add(finishing);
        }
        finished();
      },
      resetSocket() {
        aborted = true;
        sock.reset();
      },
      holdReading: (hold) => sock.core.holdReading(hold),
    });
    // The peer calls trySend only after this line: the sender exists by then.
    const sender = new Sender(sock, (error) => peer.fail(error));
    open.add(peer);
    app.onOpen?.(peer);
    const buf = new Uint8Array(16 * 1024);
    try {
      while (!peer.closing) {
        const n = await sock.recv(buf, { signal: reading.signal });
        if (n === 0) {
          peer.receiveEnd();
          break;
        }
        peer.receive(buf.slice(0, n));
      }
    } catch (error) {
      if (!reading.signal.aborted) peer.fail(error as Error);
    }
    await done;
    await sender.drained();
    draining.delete(peer);
    if (aborted) throw new Error("The client was reset"); // serveBlocking resets the socket
    // Returning closes the socket gracefully.
  }, { onError: () => {} });

  let closed = false;
  return {
    addr: listener.addr,
    async close() {
      if (closed) return;
      closed = true;
      await listener.close();
      await closePeers(() => [...open, ...draining]);
      await serving;
    },
  };
}
