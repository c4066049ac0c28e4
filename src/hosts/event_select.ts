/**
 * The peer host on WSAEventSelect (seed 001's chat loop): an event object per socket,
 * `waitForMultipleEvents` over at most 64 of them, `enumNetworkEvents`, then FD_ACCEPT,
 * FD_READ, FD_WRITE and FD_CLOSE. As Winsock servers run one thread per 64 events, the host
 * runs one waiting loop per group of 64 ({@linkcode EventWaitGroups}).
 *
 * @module
 */

import {
  closeEvent,
  createEvent,
  enumNetworkEvents,
  eventSelect,
  FD_ACCEPT,
  FD_ACCEPT_BIT,
  FD_CLOSE,
  FD_CLOSE_BIT,
  FD_READ,
  FD_READ_BIT,
  FD_WRITE,
  resetEvent,
  type WsaEvent,
} from "../models/event_select.ts";
import { EventWaitGroups } from "./_event_wait_groups.ts";
import { NonBlockingListener, type NonBlockingSocket, WOULD_BLOCK } from "../models/nonblocking.ts";
import { listenAt } from "./_listen_at.ts";
import { closePeers } from "./_close_peers.ts";
import type { PeerHost, PeerHostOptions } from "./types.ts";
import { ReceiveSlab } from "./_receive_slab.ts";
import { DEFAULT_HIGH_WATER_MARK, SocketPeer, type SocketPeerIo, SocketPeerSetup } from "./_socket_peer.ts";
import { PendingCloses } from "./_pending_closes.ts";

/** The seed's SOCKETINFO: the socket, its event, and the peer it carries. */
interface SocketInfo {
  sock: NonBlockingSocket;
  event: WsaEvent;
  peer: SocketPeer<SocketInfo>;
}

/**
 * Starts a peer host on WSAEventSelect.
 *
 * @example
 * ```ts
 * import { delimited } from "sockmodels/framing";
 * const host = await startEventSelectHost({ port: 0, codec: delimited(), app: { onFrame: (p, f) => p.send(f) } });
 * await host.close();
 * ```
 */
export async function startEventSelectHost(options: PeerHostOptions): Promise<PeerHost> {
  const { app, codec } = options;
  const highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
  const listenSocket = await NonBlockingListener.listen(listenAt(options));
  const slab = new ReceiveSlab();
  const closing = new PendingCloses();
  // Every connected client, in the order they came (the seed's g_vSocket).
  const clients = new Set<SocketInfo>();

  const listenEvent = createEvent();
  eventSelect(listenSocket, listenEvent, FD_ACCEPT | FD_CLOSE);
  let closed = false;

  // May run from another group's loop (a broadcast to a client that failed).
  const io: SocketPeerIo<SocketInfo> = {
    trySend: (info, bytes) => info.sock.trySend(bytes),
    socketQueued: (info) => info.sock.core.sendQueued,
    finish: (peer, abort) => removeSocketInfo(peer.handle, abort),
    resetSocket: (info) => info.sock.reset(),
    holdReading: (info, hold) => info.sock.core.holdReading(hold),
  };
  const setup = new SocketPeerSetup(io, codec, app, highWaterMark);

  const removeSocketInfo = (info: SocketInfo, abort: boolean): void => {
    clients.delete(info);
    groups.remove(info);
    if (abort) return info.sock.reset();
    closing.close(info.sock);
  };

  const addSocketInfo = (sock: NonBlockingSocket): void => {
    const info: SocketInfo = { sock, event: createEvent(), peer: undefined as unknown as SocketPeer<SocketInfo> };
    info.peer = new SocketPeer(info, sock.remoteAddr, setup);
    clients.add(info);
    groups.add(info);
    eventSelect(sock, info.event, FD_READ | FD_WRITE | FD_CLOSE);
    app.onOpen?.(info.peer);
  };

  // One recv per FD_READ; if data is left, FD_READ is recorded again.
  const recvOnce = (info: SocketInfo): void => {
    if (info.peer.closing) return;
    try {
      const retval = info.sock.tryRecv(slab.space);
      if (retval === WOULD_BLOCK || retval === 0) return; // 0: FD_CLOSE follows
      info.peer.receive(slab.take(retval));
    } catch (error) {
      info.peer.fail(error as Error);
    }
  };

  const handleSocket = (info: SocketInfo): void => {
    const { peer } = info;
    const { networkEvents, errorCodes } = enumNetworkEvents(info.sock, info.event);
    if (networkEvents & FD_READ) {
      if (errorCodes[FD_READ_BIT] !== 0) return peer.fail(info.sock.core.error);
      recvOnce(info);
    }
    if (networkEvents & FD_WRITE && !peer.finished) peer.flush();
    if (networkEvents & FD_CLOSE && !peer.finished) {
      // 0: the peer closed gracefully after its last byte was read; else WSAECONNRESET.
      if (errorCodes[FD_CLOSE_BIT] !== 0) return peer.fail(info.sock.core.error);
      peer.receiveEnd();
    }
  };

  const acceptOne = (): void => {
    if (closed) {
      resetEvent(listenEvent); // the listener is closing: nothing more is accepted
      return;
    }
    const { networkEvents, errorCodes } = enumNetworkEvents(listenSocket, listenEvent);
    if (!(networkEvents & FD_ACCEPT) || errorCodes[FD_ACCEPT_BIT] !== 0) return;
    // One accept per FD_ACCEPT; if more connections wait, FD_ACCEPT is recorded again.
    const clientSock = listenSocket.tryAccept();
    if (clientSock !== WOULD_BLOCK) addSocketInfo(clientSock);
  };

  const groups = new EventWaitGroups<SocketInfo>(listenEvent, {
    onListenerEvent: acceptOne,
    onMemberEvent: handleSocket,
    isRemoved: (info) => info.peer.finished,
  });

  return {
    addr: listenSocket.addr,
    async close() {
      if (closed) return;
      closed = true;
      await listenSocket.close();
      await closePeers(() => [...clients].map((info) => info.peer));
      await groups.stop();
      closeEvent(listenEvent);
      await closing.settled();
    },
  };
}
