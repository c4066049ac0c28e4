/**
 * The peer host on `select` (seed 003's SelectServer): one loop, non-blocking sockets, and
 * sets rebuilt from the client list on every pass. The read set holds the listening socket
 * and every client still being read; the write set holds the clients with output waiting;
 * the except set holds the closing clients, so that a reset on them is still noticed.
 *
 * FD_SETSIZE is raised to {@linkcode SELECT_HOST_SET_SIZE} (like `#define FD_SETSIZE 4096`
 * before including winsock2.h); connections beyond it are refused with a reset.
 *
 * @module
 */

import { NonBlockingListener, type NonBlockingSocket, WOULD_BLOCK } from "../models/nonblocking.ts";
import { FdSet, select } from "../models/select.ts";
import { listenAt } from "./listen_at.ts";
import type { PeerHost, PeerHostOptions } from "./peer_host.ts";
import { SocketPeer } from "./socket_peer.ts";
import { closePeers } from "./close_peers.ts";
import { PendingCloses } from "./pending_closes.ts";

/**
 * The select host's FD_SETSIZE: the listening socket and up to 4095 clients.
 *
 * @example
 * ```ts
 * console.log(SELECT_HOST_SET_SIZE); // 4096
 * ```
 */
export const SELECT_HOST_SET_SIZE = 4096;

type Sock = NonBlockingSocket | NonBlockingListener;

/**
 * Starts a peer host on `select`.
 *
 * @example
 * ```ts
 * import { delimited } from "sockmodels/framing";
 * const host = await startSelectHost({ port: 0, codec: delimited(), app: { onFrame: (p, f) => p.send(f) } });
 * await host.close();
 * ```
 */
export async function startSelectHost(options: PeerHostOptions): Promise<PeerHost> {
  const { app, codec } = options;
  const listenSocket = await NonBlockingListener.listen(listenAt(options));
  const peers = new Map<NonBlockingSocket, SocketPeer>();
  const closing = new PendingCloses();
  const buffer = new Uint8Array(64 * 1024);
  const readSet = new FdSet<Sock>({ setSize: SELECT_HOST_SET_SIZE });
  const writeSet = new FdSet<Sock>({ setSize: SELECT_HOST_SET_SIZE });
  const exceptSet = new FdSet<Sock>({ setSize: SELECT_HOST_SET_SIZE });
  let accepting = true;
  let stopped = false;
  // Each pass waits with its own signal, so that closing can wake the wait.
  let pass = new AbortController();

  const addClient = (sock: NonBlockingSocket): void => {
    if (peers.size >= SELECT_HOST_SET_SIZE - 1) {
      sock.reset(); // no room left in the sets
      return;
    }
    const peer = new SocketPeer(sock.remoteAddr, codec, app, {
      trySend: (bytes) => sock.trySend(bytes),
      socketQueued: () => sock.core.sendQueued,
      finish: (_peer, abort) => {
        peers.delete(sock);
        // A socket closed while select waits on it is not a socket any more (WSAENOTSOCK):
        // end the wait first, and the next pass rebuilds the sets without it.
        pass.abort();
        if (abort) return sock.reset();
        closing.close(sock);
      },
      resetSocket: () => sock.reset(),
      holdReading: (hold) => sock.core.holdReading(hold),
    });
    peers.set(sock, peer);
    app.onOpen?.(peer);
  };

  /** One recv per readable socket, as the seed does. */
  const onReadable = (peer: SocketPeer, sock: NonBlockingSocket): void => {
    const n = sock.tryRecv(buffer);
    if (n === WOULD_BLOCK) return;
    if (n === 0) peer.receiveEnd();
    else peer.receive(buffer.slice(0, n));
  };

  const buildSets = (): void => {
    readSet.clear(); // FD_ZERO
    writeSet.clear();
    exceptSet.clear();
    if (accepting) readSet.add(listenSocket);
    for (const [sock, peer] of peers) {
      if (peer.closing) exceptSet.add(sock);
      else readSet.add(sock);
      if (peer.out.bytes > 0) writeSet.add(sock);
    }
  };

  const loop = (async () => {
    while (!stopped && (accepting || peers.size > 0)) {
      buildSets();
      pass = new AbortController();
      try {
        await select(readSet, writeSet.size > 0 ? writeSet : null, exceptSet.size > 0 ? exceptSet : null, {
          signal: pass.signal,
        });
      } catch (error) {
        if (pass.signal.aborted) continue;
        throw error;
      }
      for (const sock of readSet) {
        if (sock === listenSocket) {
          const accepted = listenSocket.tryAccept();
          if (accepted !== WOULD_BLOCK) addClient(accepted);
          continue;
        }
        const peer = peers.get(sock as NonBlockingSocket);
        if (!peer || peer.closing) continue;
        try {
          onReadable(peer, sock as NonBlockingSocket);
        } catch (error) {
          peer.fail(error as Error);
        }
      }
      for (const sock of writeSet) peers.get(sock as NonBlockingSocket)?.flush();
      for (const sock of exceptSet) {
        const error = (sock as NonBlockingSocket).core.error;
        peers.get(sock as NonBlockingSocket)?.fail(error);
      }
    }
  })();

  return {
    addr: listenSocket.addr,
    async close() {
      if (!accepting) return;
      accepting = false;
      pass.abort();
      await listenSocket.close();
      await closePeers(() => [...peers.values()]);
      stopped = true;
      pass.abort();
      await loop;
      await closing.settled();
    },
  };
}
