/**
 * The peer host on IOCP (seed 001's IOCP broadcast server): a completion port with a pool of
 * workers, AcceptEx kept posted, a WSARecv always posted on every client, and every frame
 * the application sends posted as an overlapped WSASend. A client closes gracefully only once
 * its posted sends have completed (closing a socket with sends in flight would reset it).
 *
 * @module
 */

import { CompletionPort, type CompletionStatus, OverlappedListener, type OverlappedSocket } from "../models/iocp.ts";
import { availableParallelism } from "../runtime/detect.ts";
import { listenAt } from "./listen_at.ts";
import { closePeers } from "./close_peers.ts";
import type { PeerHost, PeerHostOptions } from "./peer_host.ts";
import { SocketPeer } from "./socket_peer.ts";
import { PendingCloses } from "./pending_closes.ts";

/** The completion key of a client. */
interface Client {
  socket: OverlappedSocket;
  peer: SocketPeer;
  buffer: Uint8Array;
  sendsInFlight: number;
  closeWhenSent: boolean;
}

/** The per-IO context: which operation completed. */
interface PerIo {
  op: "accept" | "recv" | "send";
}

const EXIT = Symbol("exit packet");
const LISTENER = Symbol("listener");
const ACCEPT_PIPELINE = 8;
const ACCEPT: PerIo = { op: "accept" };
const RECV: PerIo = { op: "recv" };
const SEND: PerIo = { op: "send" };

/**
 * Starts a peer host on IOCP.
 *
 * @example
 * ```ts
 * import { delimited } from "sockmodels/framing";
 * const host = await startIocpHost({ port: 0, codec: delimited(), app: { onFrame: (p, f) => p.send(f) } });
 * await host.close();
 * ```
 */
export async function startIocpHost(options: PeerHostOptions): Promise<PeerHost> {
  const { app, codec } = options;
  const port = new CompletionPort();
  const listener = await OverlappedListener.listen(listenAt(options));
  port.associate(listener, LISTENER);
  const clients = new Set<Client>();
  // Clients closed gracefully whose sends are still in flight.
  const draining = new Set<Client>();
  const closing = new PendingCloses();
  let accepting = true;
  for (let i = 0; i < ACCEPT_PIPELINE; i++) port.postAccept(listener, ACCEPT);

  const closeSocket = (c: Client): void => {
    draining.delete(c);
    closing.close(c.socket);
  };

  const addClient = (socket: OverlappedSocket): void => {
    const c: Client = {
      socket,
      buffer: new Uint8Array(16 * 1024),
      sendsInFlight: 0,
      closeWhenSent: false,
      peer: new SocketPeer(socket.remoteAddr, codec, app, {
        trySend(bytes) {
          // WSASend takes the whole buffer; it completes once the OS has it all.
          port.postSend(socket, bytes, SEND);
          c.sendsInFlight++;
          return bytes.byteLength;
        },
        socketQueued: () => socket.core.sendQueued,
        finish(_peer, abort) {
          clients.delete(c);
          if (abort) socket.reset();
          else if (c.sendsInFlight === 0) closeSocket(c);
          else {
            c.closeWhenSent = true;
            draining.add(c);
          }
        },
        resetSocket() {
          draining.delete(c);
          socket.reset();
        },
        holdReading: (hold) => socket.core.holdReading(hold),
      }),
    };
    clients.add(c);
    port.associate(socket, c);
    app.onOpen?.(c.peer);
    if (!c.peer.closing) port.postRecv(socket, c.buffer, RECV);
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
      c.sendsInFlight--;
      if (!s.ok) {
        draining.delete(c); // a failed send ends a client that was closing, too
        return c.peer.fail(s.error);
      }
      if (c.closeWhenSent && c.sendsInFlight === 0) closeSocket(c);
      return;
    }
    // op === "recv"
    if (c.peer.finished) return;
    if (!s.ok) return c.peer.fail(s.error);
    if (s.bytesTransferred === 0) return c.peer.receiveEnd();
    c.peer.receive(c.buffer.slice(0, s.bytesTransferred));
    if (!c.peer.closing) port.postRecv(c.socket, c.buffer, RECV);
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
