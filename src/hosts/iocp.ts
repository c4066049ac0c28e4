/**
 * The host on IOCP (seeds 002 and 003's IOCP servers): a completion port with a pool of
 * `2 × cores` workers, AcceptEx kept posted (a pipeline of {@linkcode ACCEPT_PIPELINE}), and
 * per client one WSARecv and at most one WSASend outstanding, each with its own per-IO
 * context. The rules it follows:
 *
 * - Each client's WSARecv is a zero-byte receive: it pins no buffer while the client is quiet,
 *   which is how IOCP servers hold many idle connections. Its completion says that something
 *   came; the worker then reads it with non-blocking recvs into one slab all clients share,
 *   until WSAEWOULDBLOCK, and posts the next zero-byte receive after the application has seen
 *   the bytes (seed 002's order).
 * - What the application sends while one completion is handled leaves in one WSASend; what
 *   it sends while a WSASend is in flight leaves in the next, once that one completes.
 * - A client with more than `highWaterMark` bytes unsent gets no new WSARecv until its sends
 *   have drained, so TCP slows it down.
 * - A client closes gracefully only once its send has completed (closing a socket with a
 *   send in flight would reset it).
 * - Shutting down posts one exit packet (PostQueuedCompletionStatus with a null context) per
 *   worker, as the seeds' servers do (seed 003).
 *
 * @module
 */

import { CompletionPort, type CompletionStatus, OverlappedListener, type OverlappedSocket } from "../models/iocp.ts";
import { WOULD_BLOCK } from "../models/nonblocking.ts";
import { availableParallelism } from "../runtime/detect.ts";
import { listenAt } from "./_listen_at.ts";
import { ReceiveSlab } from "./_receive_slab.ts";
import { closePeers } from "./_close_peers.ts";
import type { PeerHost, PeerHostOptions } from "./types.ts";
import { DEFAULT_HIGH_WATER_MARK, SocketPeer, type SocketPeerIo, SocketPeerSetup } from "./_socket_peer.ts";
import { PendingCloses } from "./_pending_closes.ts";

const RECV_POSTED = 1;
const HELD = 2;
const FLUSH_SCHEDULED = 4;
const CLOSE_WHEN_SENT = 8;

/** The completion key of a client: its yes-or-no state in one number, to keep it small. */
class Client {
  readonly socket: OverlappedSocket;
  /** Set right after the client is made: the peer is made with the client as its handle. */
  peer: SocketPeer<Client> = undefined as unknown as SocketPeer<Client>;
  /** Bytes of the WSASend in flight (0: none). */
  sending = 0;
  #bits = 0;

  constructor(socket: OverlappedSocket) {
    this.socket = socket;
  }

  /** A zero-byte WSARecv is posted. */
  get recvPosted(): boolean {
    return (this.#bits & RECV_POSTED) !== 0;
  }
  set recvPosted(on: boolean) {
    this.#bits = on ? this.#bits | RECV_POSTED : this.#bits & ~RECV_POSTED;
  }
  /** Reading is held: no new WSARecv. */
  get held(): boolean {
    return (this.#bits & HELD) !== 0;
  }
  set held(on: boolean) {
    this.#bits = on ? this.#bits | HELD : this.#bits & ~HELD;
  }
  /** A send is to be posted once the current completion has been handled. */
  get flushScheduled(): boolean {
    return (this.#bits & FLUSH_SCHEDULED) !== 0;
  }
  set flushScheduled(on: boolean) {
    this.#bits = on ? this.#bits | FLUSH_SCHEDULED : this.#bits & ~FLUSH_SCHEDULED;
  }
  /** The peer finished while a send was in flight: close once everything is sent. */
  get closeWhenSent(): boolean {
    return (this.#bits & CLOSE_WHEN_SENT) !== 0;
  }
  set closeWhenSent(on: boolean) {
    this.#bits = on ? this.#bits | CLOSE_WHEN_SENT : this.#bits & ~CLOSE_WHEN_SENT;
  }
}

/** The per-IO context: which operation completed. */
interface PerIo {
  op: "accept" | "recv" | "send";
}

const EXIT = Symbol("exit packet");
const LISTENER = Symbol("listener");
/** AcceptEx calls kept posted on the listener. */
export const ACCEPT_PIPELINE = 16;
const ACCEPT: PerIo = { op: "accept" };
const RECV: PerIo = { op: "recv" };
const SEND: PerIo = { op: "send" };
/** The buffer of a zero-byte WSARecv. */
const NO_BYTES = new Uint8Array(0);

/**
 * Starts a host on IOCP.
 *
 * @example
 * ```ts
 * import { delimited } from "sockmodels/framing";
 * import { startIocpHost } from "sockmodels/hosts";
 * const host = await startIocpHost({ port: 0, codec: delimited(), app: { onFrame: (p, f) => p.send(f) } });
 * await host.close();
 * ```
 */
export async function startIocpHost(options: PeerHostOptions): Promise<PeerHost> {
  const { app, codec } = options;
  const highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
  const port = new CompletionPort();
  const listener = await OverlappedListener.listen(listenAt(options));
  port.associate(listener, LISTENER);
  const clients = new Set<Client>();
  // Clients closed gracefully whose send is still in flight.
  const draining = new Set<Client>();
  const closing = new PendingCloses();
  const slab = new ReceiveSlab();
  // Clients whose queued bytes are to be posted as one WSASend.
  const toFlush: Client[] = [];
  let accepting = true;
  for (let i = 0; i < ACCEPT_PIPELINE; i++) port.postAccept(listener, ACCEPT);

  const closeSocket = (c: Client): void => {
    draining.delete(c);
    closing.close(c.socket);
  };

  const postRecv = (c: Client): void => {
    if (c.recvPosted || c.held || c.peer.closing) return;
    c.recvPosted = true;
    port.postRecv(c.socket, NO_BYTES, RECV);
  };

  /** Posts everything the application queued for a client as one WSASend. */
  const postSend = (c: Client): void => {
    c.flushScheduled = false;
    if (c.sending > 0 || c.peer.finished && !c.closeWhenSent) return;
    const bytes = c.peer.takeQueued();
    if (bytes === undefined) return;
    c.sending = bytes.byteLength;
    port.postSend(c.socket, bytes, SEND);
  };

  const flushScheduled = (): void => {
    for (let i = 0; i < toFlush.length; i++) postSend(toFlush[i]);
    toFlush.length = 0;
  };

  const io: SocketPeerIo<Client> = {
    trySend(c) {
      // The bytes stay queued in the peer; they are posted once this completion is handled.
      if (c.sending === 0 && !c.flushScheduled) {
        c.flushScheduled = true;
        if (toFlush.push(c) === 1) queueMicrotask(flushScheduled);
      }
      return WOULD_BLOCK;
    },
    socketQueued: (c) => c.sending,
    sendsThisTurn: (c) => c.flushScheduled,
    finish({ handle: c }, abort) {
      clients.delete(c);
      if (abort) c.socket.reset();
      else if (c.sending === 0) closeSocket(c);
      else {
        c.closeWhenSent = true;
        draining.add(c);
      }
    },
    resetSocket(c) {
      draining.delete(c);
      c.socket.reset();
    },
    holdReading(c, hold) {
      c.held = hold;
      if (!hold) postRecv(c);
    },
  };
  const setup = new SocketPeerSetup(io, codec, app, highWaterMark);

  const addClient = (socket: OverlappedSocket): void => {
    const c = new Client(socket);
    c.peer = new SocketPeer(c, socket.remoteAddr, setup);
    clients.add(c);
    port.associate(socket, c);
    app.onOpen?.(c.peer);
    postRecv(c);
  };

  const handle = (s: CompletionStatus): void => {
    if (s.key === LISTENER) {
      if (!s.ok || !accepting) {
        if (s.ok) s.socket?.reset();
        return;
      }
      addClient(s.socket!);
      port.postAccept(listener, ACCEPT); // keep the AcceptEx pipeline full
      return;
    }
    const c = s.key as Client;
    const op = (s.overlapped as PerIo).op;
    if (op === "send") {
      c.sending = 0;
      if (!s.ok) {
        draining.delete(c); // a failed send ends a client that was closing, too
        return c.peer.fail(s.error);
      }
      if (c.closeWhenSent) {
        if (c.peer.queuedBytes === 0) closeSocket(c);
        else postSend(c);
        return;
      }
      if (c.peer.queuedBytes > 0) postSend(c);
      else c.peer.flush(); // finishes a closing peer, or lets a held one read again
      return;
    }
    // op === "recv"
    c.recvPosted = false;
    if (c.peer.finished) return;
    if (!s.ok) return c.peer.fail(s.error);
    // The zero-byte receive completed: read what came, then post the next one.
    try {
      while (!c.peer.closing && !c.held) {
        const n = c.socket.tryRecv(slab.space);
        if (n === WOULD_BLOCK) break;
        if (n === 0) return c.peer.receiveEnd();
        c.peer.receive(slab.take(n));
      }
    } catch (error) {
      return c.peer.fail(error as Error);
    }
    postRecv(c);
  };

  const count = 2 * availableParallelism();
  const workers = Array.from({ length: count }, async () => {
    const worker = port.worker();
    while (true) {
      const s = await worker.getQueuedCompletionStatus();
      if (s.key === EXIT || (!s.ok && s.overlapped === null)) break;
      try {
        handle(s);
      } catch (error) {
        // One client's failure must not stop a worker.
        if (s.key !== LISTENER) (s.key as Client).peer.fail(error as Error);
      }
    }
    worker.release();
  });

  return {
    addr: listener.addr,
    async close() {
      if (!accepting) return;
      accepting = false;
      await listener.close();
      await closePeers(() => [...clients, ...draining].map((c) => c.peer));
      await closing.settled();
      for (let i = 0; i < count; i++) port.postQueuedCompletionStatus(0, EXIT);
      await Promise.all(workers);
      port.close();
    },
  };
}
