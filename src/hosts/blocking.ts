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
import { DEFAULT_HIGH_WATER_MARK, SocketPeer, type SocketPeerIo } from "./_socket_peer.ts";

/** The sending task of one client and what waits for it. */
class Sender {
  readonly #queue = new ByteQueue();
  #sending = 0;
  #running: Promise<void> | undefined;
  readonly #sock: BlockingSocket;
  /** Fails when a send fails, and goes on (flush) once everything queued was sent. */
  readonly #peer: SocketPeer<BlockingClient>;

  constructor(sock: BlockingSocket, peer: SocketPeer<BlockingClient>) {
    this.#sock = sock;
    this.#peer = peer;
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
      this.#peer.fail(error as Error);
      return;
    } finally {
      this.#running = undefined;
    }
    this.#peer.flush();
  }
}

/** A client of the blocking host, as its peer's io sees it. */
interface BlockingClient {
  sock: BlockingSocket;
  sender: Sender;
  /** The peer was reset: the client's task ends with an error, so the socket is reset. */
  aborted: boolean;
  /** Wakes the client's task if it waits for the peer to finish; set only while it does. */
  wake: (() => void) | undefined;
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
  const open = new Set<SocketPeer<BlockingClient>>();
  // Clients closed gracefully whose sending task is still at work.
  const draining = new Set<SocketPeer<BlockingClient>>();

  const io: SocketPeerIo<BlockingClient> = {
    trySend(c, bytes) {
      c.sender.push(bytes);
      return bytes.byteLength;
    },
    socketQueued: (c) => c.sender.bytes + c.sock.core.sendQueued,
    finish(peer, abort) {
      const c = peer.handle;
      open.delete(peer);
      if (abort) {
        c.aborted = true;
        c.sock.reset();
      } else {
        draining.add(peer);
        // A task waiting in recv leaves it when the socket closes, once the replies are sent.
        void c.sender.drained().then(() => {
          if (!c.aborted) void c.sock.close();
        });
      }
      c.wake?.();
    },
    resetSocket(c) {
      c.aborted = true;
      c.sock.reset();
    },
    holdReading: (c, hold) => c.sock.core.holdReading(hold),
  };

  const serving = serveBlocking(listener, async (sock) => {
    const c: BlockingClient = { sock, sender: undefined as unknown as Sender, aborted: false, wake: undefined };
    const peer = new SocketPeer(c, sock.remoteAddr, codec, app, io, highWaterMark);
    // The peer calls trySend only once the application has it: the sender exists by then.
    c.sender = new Sender(sock, peer);
    open.add(peer);
    app.onOpen?.(peer);
    // The client's thread: recv, and hand what arrived to the peer, until the peer closes; then
    // wait until its replies are sent. recvChunk hands over the bytes that arrived, so a client
    // waiting in it holds no buffer. A peer that finishes while its thread waits in recv gets
    // its socket closed (at once, or once its replies are sent), which ends the recv.
    try {
      while (!peer.closing) {
        const bytes = await sock.recvChunk();
        if (bytes.byteLength === 0) {
          peer.receiveEnd();
          break;
        }
        peer.receive(bytes);
      }
    } catch (error) {
      if (!peer.finished) peer.fail(error as Error);
    }
    if (!peer.finished) await new Promise<void>((resolve) => (c.wake = resolve));
    await c.sender.drained();
    draining.delete(peer);
    if (c.aborted) throw new Error("The client was reset"); // serveBlocking resets the socket
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
