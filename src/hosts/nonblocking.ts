/**
 * The host on plain non-blocking sockets (seed 003's non-blocking server): every socket is
 * non-blocking, and one loop tries accept, recv and send on each of them in turn, moving on
 * whenever a call would block (WSAEWOULDBLOCK). The rules it follows:
 *
 * - Accept until it would block, then for each client recv until it would block, then send
 *   what is queued until it would block (a partial send keeps the tail for the next pass).
 * - A pass that did no work waits a millisecond before the next: the model has no way to wait
 *   for readiness, so it polls, and an idle server still spends CPU, which is the seed's point
 *   about this model.
 *
 * @module
 */

import { NonBlockingListener, type NonBlockingSocket, WOULD_BLOCK } from "../models/nonblocking.ts";
import { nextEventLoopTurn } from "../platform/process.ts";
import { closePeers } from "./_close_peers.ts";
import { listenAt } from "./_listen_at.ts";
import { PendingCloses } from "./_pending_closes.ts";
import { ReceiveSlab } from "./_receive_slab.ts";
import { DEFAULT_HIGH_WATER_MARK, SocketPeer, type SocketPeerIo, SocketPeerSetup } from "./_socket_peer.ts";
import type { PeerHost, PeerHostOptions } from "./types.ts";

/** How long a pass that found nothing to do waits before the next. */
const IDLE_PASS_WAIT_MS = 1;

type Client = SocketPeer<NonBlockingSocket>;

/**
 * Starts a host on non-blocking sockets polled in turn.
 *
 * @example
 * ```ts
 * import { delimited } from "sockmodels/framing";
 * import { startNonBlockingHost } from "sockmodels/hosts";
 * const host = await startNonBlockingHost({ port: 0, codec: delimited(), app: { onFrame: (p, f) => p.send(f) } });
 * await host.close();
 * ```
 */
export async function startNonBlockingHost(options: PeerHostOptions): Promise<PeerHost> {
  const { app, codec } = options;
  const highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
  const listener = await NonBlockingListener.listen(listenAt(options));
  const clients: Client[] = [];
  const closing = new PendingCloses();
  const slab = new ReceiveSlab();
  let accepting = true;
  let stopped = false;

  const io: SocketPeerIo<NonBlockingSocket> = {
    trySend: (sock, bytes) => sock.trySend(bytes),
    socketQueued: (sock) => sock.core.sendQueued,
    // The loop drops a finished client from its list on its next pass.
    finish: ({ handle: sock }, abort) => (abort ? sock.reset() : closing.close(sock)),
    resetSocket: (sock) => sock.reset(),
    holdReading: (sock, hold) => sock.core.holdReading(hold),
  };
  const setup = new SocketPeerSetup(io, codec, app, highWaterMark);

  const addClient = (sock: NonBlockingSocket): void => {
    const peer = new SocketPeer(sock, sock.remoteAddr, setup);
    clients.push(peer);
    app.onOpen?.(peer);
  };

  /** recv until it would block, then send until it would block; true when it did any work. */
  const service = (peer: Client): boolean => {
    const sock = peer.handle;
    let worked = false;
    try {
      while (!peer.closing) {
        const n = sock.tryRecv(slab.space);
        if (n === WOULD_BLOCK) break;
        worked = true;
        if (n === 0) peer.receiveEnd();
        else peer.receive(slab.take(n));
      }
    } catch (error) {
      peer.fail(error as Error);
      return true;
    }
    const unsent = peer.queuedBytes;
    if (unsent > 0) {
      peer.flush();
      if (peer.queuedBytes < unsent) worked = true;
    }
    return worked;
  };

  const loop = (async () => {
    while (!stopped) {
      let worked = false;
      if (accepting) {
        for (let s = listener.tryAccept(); s !== WOULD_BLOCK; s = listener.tryAccept()) {
          addClient(s);
          worked = true;
        }
      }
      for (let i = 0; i < clients.length; i++) {
        const c = clients[i];
        if (!c.finished && service(c)) worked = true;
        if (c.finished) {
          clients[i] = clients[clients.length - 1];
          clients.pop();
          i--;
        }
      }
      // Yield to the event loop so that more data can arrive; an idle pass waits a little.
      if (worked) await nextEventLoopTurn();
      else await new Promise((resolve) => setTimeout(resolve, IDLE_PASS_WAIT_MS));
    }
  })();

  return {
    addr: listener.addr,
    async close() {
      if (!accepting) return;
      accepting = false;
      await listener.close();
      await closePeers(() => clients.filter((c) => !c.finished));
      stopped = true;
      await loop;
      await closing.settled();
    },
  };
}
