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
import { closePeers } from "./_close_peers.ts";
import { ByteQueue } from "../_internal/byte_queue.ts";
import type { PeerHost, PeerHostOptions } from "./types.ts";
import { DEFAULT_HIGH_WATER_MARK, SocketPeer } from "./_socket_peer.ts";

/** The sending task of one client and what waits for it. */
class Sender {
  readonly #queue = new ByteQueue();
  #sending = 0;
  #running: Promise<void> | undefined;
  readonly #sock: BlockingSocket;
  readonly #onError: (error: Error) => void;
  readonly #onDrained: () => void;

  constructor(sock: BlockingSocket, onError: (error: Error) => void, onDrained: () => void) {
    this.#sock = sock;
    this.#onError = onError;
    this.#onDrained = onDrained;
  }

  /** Bytes queued or being sent. */
  get bytes(): number {
    return this.#queue.bytes + this.#sending;
  }

  /**
   * Sends `bytes` now if nothing is being sent (`send` copies them before it waits), or queues
   * them for the send under way.
   */
  push(bytes: Uint8Array): void {
    if (this.#running === undefined) this.#running = this.#run(bytes);
    else this.#queue.write(bytes);
  }

  /** Resolves once everything queued was sent (or sending failed). */
  drained(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  async #run(first: Uint8Array): Promise<void> {
    try {
      // Everything queued meanwhile goes out in one send (send copies it anyway).
      for (let chunk: Uint8Array | undefined = first; chunk !== undefined; chunk = this.#queue.takeAll()) {
        this.#sending = chunk.byteLength;
        await this.#sock.send(chunk);
        this.#sending = 0;
      }
    } catch (error) {
      this.#queue.clear();
      this.#sending = 0;
      this.#onError(error as Error);
      return;
    } finally {
      this.#running = undefined;
    }
    this.#onDrained();
  }
}

/** The reading task of one client: recv, and hand what arrived to the peer, until it closes. */
async function readUntilClosing(sock: BlockingSocket, peer: SocketPeer): Promise<void> {
  // recvChunk hands over the bytes that arrived, so a client waiting in it holds no buffer.
  try {
    while (!peer.closing) {
      const bytes = await sock.recvChunk();
      if (bytes.byteLength === 0) {
        peer.receiveEnd();
        return;
      }
      peer.receive(bytes);
    }
  } catch (error) {
    if (!peer.finished) peer.fail(error as Error);
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
  const highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
  const transport = options.transport ?? await defaultTransport();
  const listener = await listen({ transport, hostname: options.hostname ?? "127.0.0.1", port: options.port ?? 0 });
  const open = new Set<SocketPeer>();
  // Clients closed gracefully whose sending task is still at work.
  const draining = new Set<SocketPeer>();

  const serving = serveBlocking(listener, async (sock) => {
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
    }, highWaterMark);
    // The peer calls trySend only after this line: the sender exists by then.
    const sender = new Sender(sock, (error) => peer.fail(error), () => peer.flush());
    open.add(peer);
    app.onOpen?.(peer);
    // The reading task may still wait in recv after the peer finished (a graceful close while
    // replies are still going out); closing the socket ends that recv, and what it returns
    // then is dropped.
    void readUntilClosing(sock, peer);
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
