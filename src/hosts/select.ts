/**
 * The host on `select` (seed 003's SelectServer): one loop, non-blocking sockets, and sets
 * rebuilt from the client list on every pass (`fd_set readSet = masterSet`). The rules it
 * follows:
 *
 * - The read set holds the listening socket and every client still being read; the write set
 *   holds only the clients with output waiting (a partial send keeps the tail, sent when select
 *   says the socket is writable again); the except set holds the closing clients, so that a
 *   reset on them is still noticed.
 * - A listener in the read set means one connection can be accepted; a client means one recv.
 * - FD_SETSIZE: Winsock's default is 64 sockets per set, and a program may `#define
 *   FD_SETSIZE` higher before including winsock2.h. The host takes `setSize` (default
 *   {@linkcode SELECT_HOST_SET_SIZE}); with more sockets than that, it splits them into
 *   groups of `setSize` and selects on every group at once, handling whichever are ready, as
 *   Windows servers run one select per FD_SETSIZE sockets.
 *
 * @module
 */

import { NonBlockingListener, type NonBlockingSocket, WOULD_BLOCK } from "../models/nonblocking.ts";
import { FdSet, select } from "../models/select.ts";
import { listenAt } from "./_listen_at.ts";
import type { PeerHost, PeerHostOptions } from "./types.ts";
import { ReceiveSlab } from "./_receive_slab.ts";
import { DEFAULT_HIGH_WATER_MARK, SocketPeer, type SocketPeerIo } from "./_socket_peer.ts";
import { closePeers } from "./_close_peers.ts";
import { PendingCloses } from "./_pending_closes.ts";

/**
 * The select host's default FD_SETSIZE.
 *
 * @example
 * ```ts
 * import { SELECT_HOST_SET_SIZE } from "sockmodels/hosts";
 * console.log(SELECT_HOST_SET_SIZE); // 1024
 * ```
 */
export const SELECT_HOST_SET_SIZE = 1024;

/**
 * Options of the select host.
 *
 * @example
 * ```ts
 * import type { SelectHostOptions } from "sockmodels/hosts";
 * import { delimited } from "sockmodels/framing";
 * const options: SelectHostOptions = { port: 0, codec: delimited(), app: { onFrame() {} }, setSize: 64 };
 * ```
 */
export interface SelectHostOptions extends PeerHostOptions {
  /**
   * FD_SETSIZE of the host's sets: at least 2. Default {@linkcode SELECT_HOST_SET_SIZE}
   * (Winsock's is 64). Above it, the sockets are split into groups that are selected at once.
   */
  setSize?: number;
}

type Sock = NonBlockingSocket | NonBlockingListener;

interface Group {
  readSet: FdSet<Sock>;
  writeSet: FdSet<Sock>;
  exceptSet: FdSet<Sock>;
}

/**
 * Starts a host on `select`.
 *
 * @throws {RangeError} For a `setSize` that is not an integer of at least 2.
 *
 * @example
 * ```ts
 * import { delimited } from "sockmodels/framing";
 * import { startSelectHost } from "sockmodels/hosts";
 * const host = await startSelectHost({ port: 0, codec: delimited(), app: { onFrame: (p, f) => p.send(f) } });
 * await host.close();
 * ```
 */
export async function startSelectHost(options: SelectHostOptions): Promise<PeerHost> {
  const { app, codec } = options;
  const setSize = options.setSize ?? SELECT_HOST_SET_SIZE;
  if (!Number.isInteger(setSize) || setSize < 2) {
    throw new RangeError(`Select set size must be an integer of at least 2, got ${setSize}`);
  }
  const highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
  const listenSocket = await NonBlockingListener.listen(listenAt(options));
  const peers = new Map<NonBlockingSocket, SocketPeer>();
  const closing = new PendingCloses();
  const slab = new ReceiveSlab();
  const groups: Group[] = [];
  let accepting = true;
  let stopped = false;
  let handling = false;
  // A pass waits on this signal, so that closing, or output queued outside the loop (by a
  // timer of the application), can wake the wait; once aborted, the next pass takes a new one.
  let pass = new AbortController();

  const io: SocketPeerIo<NonBlockingSocket> = {
    trySend(sock, bytes) {
      const sent = sock.trySend(bytes);
      // Output that waits must be in the next write set: wake a wait that does not hold it.
      if (!handling && (sent === WOULD_BLOCK || sent < bytes.byteLength)) pass.abort();
      return sent;
    },
    socketQueued: (sock) => sock.core.sendQueued,
    finish: ({ handle: sock }, abort) => {
      peers.delete(sock);
      // A socket closed while select waits on it is not a socket any more (WSAENOTSOCK):
      // end the wait first, and the next pass rebuilds the sets without it.
      pass.abort();
      if (abort) return sock.reset();
      closing.close(sock);
    },
    resetSocket: (sock) => sock.reset(),
    holdReading: (sock, hold) => sock.core.holdReading(hold),
  };

  const addClient = (sock: NonBlockingSocket): void => {
    const peer = new SocketPeer(sock, sock.remoteAddr, codec, app, io, highWaterMark);
    peers.set(sock, peer);
    app.onOpen?.(peer);
  };

  /** One recv per readable socket, as the seed does. */
  const onReadable = (peer: SocketPeer, sock: NonBlockingSocket): void => {
    const n = sock.tryRecv(slab.space);
    if (n === WOULD_BLOCK) return;
    if (n === 0) peer.receiveEnd();
    else peer.receive(slab.take(n));
  };

  /** Rebuilds the sets: the listener and the clients, in groups of at most setSize sockets. */
  const buildSets = (): Group[] => {
    let g = -1;
    let inGroup = setSize;
    const add = (sock: Sock, read: boolean, write: boolean): void => {
      if (inGroup === setSize) {
        g++;
        inGroup = 0;
        const group = groups[g] ??= {
          readSet: new FdSet<Sock>({ setSize }),
          writeSet: new FdSet<Sock>({ setSize }),
          exceptSet: new FdSet<Sock>({ setSize }),
        };
        group.readSet.clear(); // FD_ZERO
        group.writeSet.clear();
        group.exceptSet.clear();
      }
      const group = groups[g];
      if (read) group.readSet.add(sock); // FD_SET
      else group.exceptSet.add(sock);
      if (write) group.writeSet.add(sock);
      inGroup++;
    };
    if (accepting) add(listenSocket, true, false);
    for (const [sock, peer] of peers) add(sock, !peer.closing, peer.out.bytes > 0);
    groups.length = g + 1;
    return groups;
  };

  /** One select per group, all at once; the first to return ends the others' wait. */
  const selectGroups = async (used: Group[], signal: AbortSignal): Promise<Group[]> => {
    if (used.length === 1) {
      await selectGroup(used[0], signal);
      return used;
    }
    const first = new AbortController();
    const onAbort = () => first.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    const settled = await Promise.allSettled(used.map(async (group) => {
      try {
        await selectGroup(group, first.signal);
      } finally {
        first.abort();
      }
    }));
    signal.removeEventListener("abort", onAbort);
    const ready: Group[] = [];
    for (let i = 0; i < settled.length; i++) {
      const s = settled[i];
      if (s.status === "fulfilled") ready.push(used[i]);
      else if (signal.aborted) throw s.reason;
      else if ((s.reason as { code?: string }).code !== "ECANCELED") throw s.reason;
    }
    return ready;
  };

  const selectGroup = (g: Group, signal: AbortSignal): Promise<number> =>
    select(g.readSet, g.writeSet.size > 0 ? g.writeSet : null, g.exceptSet.size > 0 ? g.exceptSet : null, {
      signal,
    });

  const handle = (group: Group): void => {
    for (const sock of group.readSet) {
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
    for (const sock of group.writeSet) peers.get(sock as NonBlockingSocket)?.flush();
    for (const sock of group.exceptSet) {
      const error = (sock as NonBlockingSocket).core.error;
      peers.get(sock as NonBlockingSocket)?.fail(error);
    }
  };

  const loop = (async () => {
    while (!stopped && (accepting || peers.size > 0)) {
      const used = buildSets();
      if (pass.signal.aborted) pass = new AbortController();
      let ready: Group[];
      try {
        ready = await selectGroups(used, pass.signal);
      } catch (error) {
        if (pass.signal.aborted) continue;
        throw error;
      }
      handling = true;
      try {
        for (const group of ready) handle(group);
      } finally {
        handling = false;
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
