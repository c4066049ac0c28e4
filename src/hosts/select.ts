/**
 * The host on `select` (seed 003's SelectServer): a loop, non-blocking sockets, and sets
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
 *   groups of `setSize`, each with a loop of its own, as Windows servers run one select per
 *   FD_SETSIZE sockets in a thread each. A new client joins the first group with room, and a
 *   client that leaves frees its place; only that group's wait is woken and its sets rebuilt.
 *
 * @module
 */

import { NonBlockingListener, type NonBlockingSocket, WOULD_BLOCK } from "../models/nonblocking.ts";
import { FdSet, select } from "../models/select.ts";
import { type Readiness, type Watchable, WatchedCore } from "../core/socket_core.ts";
import { listenAt } from "./_listen_at.ts";
import type { PeerHost, PeerHostOptions } from "./types.ts";
import { ReceiveSlab } from "./_receive_slab.ts";
import { DEFAULT_HIGH_WATER_MARK, SocketPeer, type SocketPeerIo, SocketPeerSetup } from "./_socket_peer.ts";
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

let lastWakeId = 0;
const WOKEN: Readiness = Object.freeze({ readable: true, writable: false, error: false, hup: false });
const NOT_WOKEN: Readiness = Object.freeze({ readable: false, writable: false, error: false, hup: false });

/**
 * A member of a group's read set that is readable once the group is woken: what the loopback
 * socket pair is to a Windows server that must interrupt its select. Waking this way costs no
 * abort, no cancellation error and no new signal per wake, which a connect storm makes many of.
 */
class GroupWake extends WatchedCore implements Watchable {
  /** Negative, so that it is never a socket's. */
  readonly id: number = --lastWakeId;
  readonly isClosed = false;
  #woken = false;

  readiness(): Readiness {
    // Read on every pass of the group, so the two answers are made once.
    return this.#woken ? WOKEN : NOT_WOKEN;
  }

  /** The group was woken since its sets were last built. */
  get woken(): boolean {
    return this.#woken;
  }

  /** Makes the member readable (once until it is reset), which ends the group's select. */
  wake(): void {
    if (this.#woken) return;
    this.#woken = true;
    this._notifyWatchers();
  }

  /** Read: the next select waits again. */
  reset(): void {
    this.#woken = false;
  }
}

/** Up to `setSize` sockets, selected on by a loop of their own, like one Windows thread. */
interface Group {
  /** The sockets of the group, in the order they joined (the listener is in the first). */
  members: Set<Sock>;
  readSet: FdSet<Sock | GroupWake>;
  writeSet: FdSet<Sock>;
  exceptSet: FdSet<Sock>;
  /**
   * Always in the read set, so that a member that comes or goes, or output queued outside the
   * loop (by a timer of the application), can wake the group's select.
   */
  wake: GroupWake;
  /** The group's loop is handling what its select returned (a wake is not needed then). */
  handling: boolean;
  /** The group's loop, while it has members. */
  running: Promise<void> | undefined;
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
  const peers = new Map<NonBlockingSocket, SocketPeer<NonBlockingSocket>>();
  const groupOf = new Map<Sock, Group>();
  const closing = new PendingCloses();
  const slab = new ReceiveSlab();
  const groups: Group[] = [];
  let accepting = true;
  let stopped = false;

  /** Ends the group's wait, unless its loop is at work (it builds its sets again after). */
  const wake = (group: Group | undefined): void => {
    if (group !== undefined && !group.handling) group.wake.wake();
  };

  const io: SocketPeerIo<NonBlockingSocket> = {
    trySend(sock, bytes) {
      const sent = sock.trySend(bytes);
      // Output that waits must be in the group's next write set.
      if (sent === WOULD_BLOCK || sent < bytes.byteLength) wake(groupOf.get(sock));
      return sent;
    },
    socketQueued: (sock) => sock.core.sendQueued,
    finish: ({ handle: sock }, abort) => {
      peers.delete(sock);
      leave(sock);
      if (abort) return sock.reset();
      closing.close(sock);
    },
    resetSocket: (sock) => sock.reset(),
    holdReading: (sock, hold) => sock.core.holdReading(hold),
  };
  const setup = new SocketPeerSetup(io, codec, app, highWaterMark);

  /** Puts a socket in the first group with room, starting a new group when all are full. */
  const join = (sock: Sock): void => {
    let group = groups.find((g) => g.members.size < setSize);
    if (group === undefined) {
      group = {
        members: new Set(),
        // One more place in the read set, for the wake member.
        readSet: new FdSet<Sock | GroupWake>({ setSize: setSize + 1 }),
        writeSet: new FdSet<Sock>({ setSize }),
        exceptSet: new FdSet<Sock>({ setSize }),
        wake: new GroupWake(),
        handling: false,
        running: undefined,
      };
      groups.push(group);
    }
    group.members.add(sock);
    groupOf.set(sock, group);
    if (group.running === undefined) group.running = runGroup(group);
    else wake(group);
  };

  /**
   * Takes a socket out of its group. A socket closed while select waits on it is not a socket
   * any more (WSAENOTSOCK): its group's wait ends first, and the next pass goes without it.
   */
  const leave = (sock: Sock): void => {
    const group = groupOf.get(sock);
    if (group === undefined) return;
    groupOf.delete(sock);
    group.members.delete(sock);
    group.wake.wake();
  };

  const addClient = (sock: NonBlockingSocket): void => {
    const peer = new SocketPeer(sock, sock.remoteAddr, setup);
    peers.set(sock, peer);
    join(sock);
    app.onOpen?.(peer);
  };

  /** One recv per readable socket, as the seed does. */
  const onReadable = (peer: SocketPeer<NonBlockingSocket>, sock: NonBlockingSocket): void => {
    const n = sock.tryRecv(slab.space);
    if (n === WOULD_BLOCK) return;
    if (n === 0) peer.receiveEnd();
    else peer.receive(slab.take(n));
  };

  /** Rebuilds the group's sets from its members (FD_ZERO, then FD_SET); false when empty. */
  const buildSets = (group: Group): boolean => {
    const { readSet, writeSet, exceptSet } = group;
    readSet.clear();
    writeSet.clear();
    exceptSet.clear();
    group.wake.reset();
    for (const sock of group.members) {
      if (sock === listenSocket) {
        if (accepting) readSet.add(sock);
        continue;
      }
      const peer = peers.get(sock as NonBlockingSocket)!;
      if (!peer.closing) readSet.add(sock);
      else exceptSet.add(sock); // a reset of a closing client is still noticed
      if (peer.queuedBytes > 0) writeSet.add(sock);
    }
    if (readSet.size + writeSet.size + exceptSet.size === 0) return false;
    readSet.add(group.wake);
    return true;
  };

  const handle = (group: Group): void => {
    for (const sock of group.readSet) {
      if (sock === group.wake) continue; // woken: the sets are built again
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

  /** A group's loop: select on its sets, handle what is ready, again, while it has members. */
  const runGroup = async (group: Group): Promise<void> => {
    // Let the one who started it finish first (the accept that made the group, say).
    await Promise.resolve();
    try {
      while (!stopped && buildSets(group)) {
        const { readSet, writeSet, exceptSet } = group;
        try {
          await select(readSet, writeSet.size > 0 ? writeSet : null, exceptSet.size > 0 ? exceptSet : null);
        } catch (error) {
          // A member closed while select waited fails it (WSAENOTSOCK); leaving woke the group,
          // and the next pass goes without it.
          if (group.wake.woken) continue;
          throw error;
        }
        if (stopped) break;
        group.handling = true;
        try {
          handle(group);
        } finally {
          group.handling = false;
        }
      }
    } finally {
      // Ended or failed, in the same step as the last check: a client that joins after it
      // starts the loop again.
      group.running = undefined;
    }
  };

  join(listenSocket);

  return {
    addr: listenSocket.addr,
    async close() {
      if (!accepting) return;
      accepting = false;
      leave(listenSocket);
      await listenSocket.close();
      await closePeers(() => [...peers.values()]);
      stopped = true;
      for (const group of groups) group.wake.wake();
      await Promise.all(groups.map((group) => group.running));
      await closing.settled();
    },
  };
}
