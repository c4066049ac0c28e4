/**
 * The host on the epoll-style Selector in edge-triggered mode, with seed 004's drain pattern.
 * Each socket is registered once, for POLLIN | POLLOUT, and never modified: with edge
 * triggering an event means "something changed", not "still ready". The rules it follows:
 *
 * - On the listener's event, accept until WOULD_BLOCK: one edge may stand for many
 *   connections.
 * - On a client's event, recv until WOULD_BLOCK (no new event comes for bytes left unread),
 *   then send what is queued until WOULD_BLOCK (only a send that would block arms the next
 *   POLLOUT edge, so a partial send goes on).
 * - A held client (its unsent bytes passed `highWaterMark`, or the application paused it) has
 *   its socket stop taking bytes: recv reaches WOULD_BLOCK, and the bytes that arrive once it
 *   reads again raise a new edge.
 *
 * `wait` returns only ready sockets, in O(ready) time, however many are connected.
 *
 * @module
 */

import { NonBlockingListener, type NonBlockingSocket, WOULD_BLOCK } from "../models/nonblocking.ts";
import { POLLERR, POLLHUP, POLLIN, POLLOUT, Selector } from "../models/select.ts";
import { closePeers } from "./_close_peers.ts";
import { listenAt } from "./_listen_at.ts";
import { PendingCloses } from "./_pending_closes.ts";
import { ReceiveSlab } from "./_receive_slab.ts";
import { DEFAULT_HIGH_WATER_MARK, SocketPeer, type SocketPeerIo, SocketPeerSetup } from "./_socket_peer.ts";
import type { PeerHost, PeerHostOptions } from "./types.ts";

const WAIT_OPTIONS = { maxEvents: 256 };

type Sock = NonBlockingSocket | NonBlockingListener;

type Client = SocketPeer<NonBlockingSocket>;

/**
 * Starts a host on the edge-triggered Selector.
 *
 * @example
 * ```ts
 * import { delimited } from "sockmodels/framing";
 * import { startSelectorHost } from "sockmodels/hosts";
 * const host = await startSelectorHost({ port: 0, codec: delimited(), app: { onFrame: (p, f) => p.send(f) } });
 * await host.close();
 * ```
 */
export async function startSelectorHost(options: PeerHostOptions): Promise<PeerHost> {
  const { app, codec } = options;
  const highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
  const listener = await NonBlockingListener.listen(listenAt(options));
  const selector = new Selector<Sock, Client | undefined>({ mode: "edge" });
  const clients = new Set<Client>();
  const closing = new PendingCloses();
  const slab = new ReceiveSlab();
  let accepting = true;

  selector.register(listener, POLLIN);

  const io: SocketPeerIo<NonBlockingSocket> = {
    // Until WOULD_BLOCK: only a send that would block arms the next POLLOUT edge.
    trySend: (sock, bytes) => {
      let sent = 0;
      while (sent < bytes.byteLength) {
        const n = sock.trySend(sent === 0 ? bytes : bytes.subarray(sent));
        if (n === WOULD_BLOCK) return sent === 0 ? WOULD_BLOCK : sent;
        sent += n;
      }
      return sent;
    },
    socketQueued: (sock) => sock.core.sendQueued,
    finish(peer, abort) {
      clients.delete(peer);
      selector.unregister(peer.handle);
      if (abort) return peer.handle.reset();
      closing.close(peer.handle);
    },
    resetSocket: (sock) => sock.reset(),
    holdReading: (sock, hold) => sock.core.holdReading(hold),
  };
  const setup = new SocketPeerSetup(io, codec, app, highWaterMark);

  const addClient = (sock: NonBlockingSocket): void => {
    const peer = new SocketPeer(sock, sock.remoteAddr, setup);
    clients.add(peer);
    selector.register(sock, POLLIN | POLLOUT, peer);
    app.onOpen?.(peer);
  };

  /** recv until WOULD_BLOCK, handing the bytes to the peer as they come. */
  const drainRead = (peer: Client): void => {
    const sock = peer.handle;
    while (!peer.closing) {
      const n = sock.tryRecv(slab.space);
      if (n === WOULD_BLOCK) return;
      if (n === 0) return peer.receiveEnd();
      peer.receive(slab.take(n));
    }
  };

  const onClientEvent = (peer: Client, events: number): void => {
    try {
      if (events & POLLIN || (events & (POLLERR | POLLHUP) && !peer.closing)) drainRead(peer);
    } catch (error) {
      peer.fail(error as Error); // a reset: this client only
      return;
    }
    // A failed socket fails the send, which ends the client.
    if (events & (POLLOUT | POLLERR | POLLHUP) || peer.queuedBytes > 0) peer.flush();
  };

  const loop = (async () => {
    while (!selector.closed) {
      let events;
      try {
        events = await selector.wait(WAIT_OPTIONS);
      } catch (error) {
        if (selector.closed) break;
        throw error;
      }
      for (let i = 0; i < events.length; i++) {
        const { socket, events: ready, data } = events[i];
        if (socket === listener) {
          if (!accepting) continue;
          for (let s = listener.tryAccept(); s !== WOULD_BLOCK; s = listener.tryAccept()) addClient(s);
        } else if (data && clients.has(data)) {
          onClientEvent(data, ready);
        }
      }
    }
  })();

  return {
    addr: listener.addr,
    async close() {
      if (!accepting) return;
      accepting = false;
      selector.unregister(listener);
      await listener.close();
      await closePeers(() => [...clients]);
      selector.close(); // the pending wait rejects, and the loop ends
      await loop;
      await closing.settled();
    },
  };
}
