/**
 * The peer host on blocking sockets (seed 001's thread-per-client chat): one task per client
 * that waits in `recv` and hands what arrives to the application, and, for each client, a
 * sending task that waits in `send` for what the application queued, so that a client that
 * reads slowly holds up nobody else.
 *
 * @module
 */

import { acceptEach, type BlockingSocket, listen } from "../models/blocking.ts";
import { defaultTransport } from "../runtime/detect.ts";
import { closePeers } from "./_close_peers.ts";
import { ByteQueue } from "../_internal/byte_queue.ts";
import type { PeerHost, PeerHostOptions } from "./types.ts";
import { DEFAULT_HIGH_WATER_MARK, SocketPeer, type SocketPeerIo, SocketPeerSetup } from "./_socket_peer.ts";

/**
 * A client of the blocking host, as its peer's io sees it: its socket, and its sending task
 * and what waits for it.
 */
class BlockingClient {
  readonly sock: BlockingSocket;
  /** Set right after the client is made: the peer is made with the client as its handle. */
  peer: SocketPeer<BlockingClient> = undefined as unknown as SocketPeer<BlockingClient>;
  /** The peer was reset: the socket is reset, not closed. */
  aborted = false;
  /** Wakes the client's task if it waits for the peer to finish; set only while it does. */
  wake: (() => void) | undefined;
  /** What was queued while a send was under way; made only then, let go once sent. */
  #queue: ByteQueue | undefined;
  #sending = 0;
  #running: Promise<void> | undefined;

  constructor(sock: BlockingSocket) {
    this.sock = sock;
  }

  /** Bytes queued or being sent. */
  get bytesToSend(): number {
    return (this.#queue?.bytes ?? 0) + this.#sending;
  }

  /**
   * Sends `bytes` now if nothing is being sent (`send` copies them before it waits), or queues
   * them for the send under way.
   */
  push(bytes: Uint8Array): void {
    if (this.#running === undefined) this.#running = this.#send(bytes);
    else (this.#queue ??= new ByteQueue()).write(bytes);
  }

  /** Resolves once everything queued was sent (or sending failed). */
  drained(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  /** The sending task: fails the peer when a send fails, and goes on (flush) once all was sent. */
  async #send(first: Uint8Array): Promise<void> {
    try {
      // Everything queued meanwhile goes out in one send (send copies it anyway).
      for (let chunk: Uint8Array | undefined = first; chunk !== undefined; chunk = this.#queue?.takeAll()) {
        this.#sending = chunk.byteLength;
        await this.sock.send(chunk);
        this.#sending = 0;
      }
    } catch (error) {
      this.#sending = 0;
      this.peer.fail(error as Error);
      return;
    } finally {
      this.#queue = undefined;
      this.#running = undefined;
    }
    this.peer.flush();
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
  const open = new Set<SocketPeer<BlockingClient>>();
  // Clients closed gracefully whose sending task is still at work.
  const draining = new Set<SocketPeer<BlockingClient>>();

  const io: SocketPeerIo<BlockingClient> = {
    trySend(c, bytes) {
      c.push(bytes);
      return bytes.byteLength;
    },
    socketQueued: (c) => c.bytesToSend + c.sock.core.sendQueued,
    finish(peer, abort) {
      const c = peer.handle;
      open.delete(peer);
      if (abort) {
        c.aborted = true;
        c.sock.reset();
      } else {
        draining.add(peer);
        // A task waiting in recv leaves it when the socket closes, once the replies are sent.
        void c.drained().then(() => {
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
  const setup = new SocketPeerSetup(io, codec, app, highWaterMark);

  // The client's thread: recv, and hand what arrived to the peer, until the peer closes; then
  // wait until its replies are sent, and close the socket (reset it if the peer was reset).
  // recvChunk hands over the bytes that arrived, so a client waiting in it holds no buffer. A
  // peer that finishes while its thread waits in recv gets its socket closed (at once, or once
  // its replies are sent), which ends the recv. It runs under serveBlocking's accept loop, and
  // closes its socket itself, so that a client's task is one async call rather than two.
  const serveClient = async (sock: BlockingSocket, ended: () => void): Promise<void> => {
    const c = new BlockingClient(sock);
    const peer = c.peer = new SocketPeer(c, sock.remoteAddr, setup);
    open.add(peer);
    let bytes: Uint8Array;
    try {
      app.onOpen?.(peer);
      while (!peer.closing) {
        bytes = await sock.recvChunk();
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
    await c.drained();
    draining.delete(peer);
    if (c.aborted) sock.reset();
    else await sock.close().catch(() => sock.reset());
    ended();
  };
  const serving = acceptEach(listener, serveClient);

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
