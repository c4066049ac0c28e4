/**
 * The WSAEventSelect echo of seeds 001 and 003: one event object per socket, parallel arrays of
 * sockets and events, and a loop of `waitForMultipleEvents` and `enumNetworkEvents` that handles
 * FD_ACCEPT, FD_READ, FD_WRITE and FD_CLOSE. One wait takes at most 64 events
 * (WSA_MAXIMUM_WAIT_EVENTS), so, as Winsock servers run one thread per 64 events, this server
 * runs one waiting loop per group of 64 ({@linkcode EventWaitGroups}).
 *
 *   sockmodels serve echo --model event-select --port 9000 --framing raw
 *
 * @module
 */
import { NonBlockingListener, type NonBlockingSocket, WOULD_BLOCK } from "../models/nonblocking.ts";
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
  type WsaEvent,
} from "../models/event_select.ts";
import { EventWaitGroups } from "./event_wait_groups.ts";
import { listenAt } from "./listen_at.ts";
import type { FrameCodec, FrameDecoder } from "../framing/mod.ts";
import { echoCodec, type EchoServer, type EchoServerOptions, framedParts } from "./echo_framing.ts";
import { PendingCloses } from "./pending_closes.ts";
import { SendQueue } from "./send_queue.ts";

const BUFSIZE = 64 * 1024;
/** Stop reading a client while this much echo is still unsent (a slow reader). */
const MAX_BACKLOG = 1024 * 1024;

/** The seed's SOCKETINFO, with the echo that could not be sent yet. */
interface SocketInfo {
  sock: NonBlockingSocket;
  event: WsaEvent;
  out: SendQueue;
  decoder?: FrameDecoder;
  readStopped: boolean;
  peerClosed: boolean;
  removed: boolean;
}

/**
 * Starts the WSAEventSelect echo server.
 *
 * @example
 * ```ts
 * const server = await startEventSelectEcho({ port: 0, framing: "lp4" });
 * console.log(`listening on ${server.addr.port}`);
 * await server.close();
 * ```
 */
export async function startEventSelectEcho(options: EchoServerOptions = {}): Promise<EchoServer> {
  const listenSocket = await NonBlockingListener.listen(listenAt(options));
  const codec: FrameCodec | undefined = echoCodec(options.framing);
  const buf = new Uint8Array(BUFSIZE);
  const closing = new PendingCloses();
  const clients = new Set<SocketInfo>();

  // The listening socket only needs to hear about connections to accept.
  const listenEvent = createEvent();
  eventSelect(listenSocket, listenEvent, FD_ACCEPT | FD_CLOSE);

  const addSocketInfo = (sock: NonBlockingSocket): void => {
    const info: SocketInfo = {
      sock,
      event: createEvent(),
      out: new SendQueue(),
      decoder: codec?.decoder(),
      readStopped: false,
      peerClosed: false,
      removed: false,
    };
    clients.add(info);
    groups.add(info);
    eventSelect(sock, info.event, FD_READ | FD_WRITE | FD_CLOSE);
  };

  const removeSocketInfo = (info: SocketInfo, abort: boolean): void => {
    if (info.removed) return;
    info.removed = true;
    clients.delete(info);
    groups.remove(info);
    if (abort) {
      info.sock.reset();
    } else {
      closing.close(info.sock);
    }
  };

  const queue = (info: SocketInfo, bytes: Uint8Array): void => {
    info.out.push(bytes);
  };

  // Sends what is pending; a partial send keeps the tail for the next FD_WRITE.
  const sendPending = (info: SocketInfo): void => {
    try {
      info.out.drain(info.sock);
    } catch {
      removeSocketInfo(info, true);
      return;
    }
    if (info.readStopped && info.out.bytes < MAX_BACKLOG) {
      // The slow reader caught up: a recv re-enables FD_READ.
      info.readStopped = false;
      recvOnce(info);
      return;
    }
    if (info.peerClosed && info.out.bytes === 0) removeSocketInfo(info, false);
  };

  // One recv per FD_READ, as in the seed; if data is left, FD_READ is recorded again.
  const recvOnce = (info: SocketInfo): void => {
    if (info.out.bytes >= MAX_BACKLOG) {
      info.readStopped = true;
      return;
    }
    try {
      const retval = info.sock.tryRecv(buf);
      if (retval === WOULD_BLOCK || retval === 0) return;
      const data = buf.slice(0, retval);
      if (info.decoder) {
        for (const frame of info.decoder.push(data)) {
          for (const part of framedParts(codec!, frame)) queue(info, part);
        }
      } else {
        queue(info, data);
      }
    } catch {
      // A reset, or a frame over the size cap.
      removeSocketInfo(info, true);
      return;
    }
    sendPending(info);
  };

  const handleSocket = (info: SocketInfo): void => {
    const { networkEvents, errorCodes } = enumNetworkEvents(info.sock, info.event);
    if (networkEvents & FD_READ) {
      if (errorCodes[FD_READ_BIT] !== 0) return removeSocketInfo(info, true);
      recvOnce(info);
    }
    if (networkEvents & FD_WRITE && !info.removed) sendPending(info);
    if (networkEvents & FD_CLOSE && !info.removed) {
      // 0: the peer closed gracefully after its last byte was read; else WSAECONNRESET.
      if (errorCodes[FD_CLOSE_BIT] !== 0) return removeSocketInfo(info, true);
      info.peerClosed = true;
      try {
        info.decoder?.end();
      } catch {
        // A truncated last frame: echo what was whole, then close.
      }
      if (info.out.bytes === 0) removeSocketInfo(info, false);
    }
  };

  const acceptOne = (): void => {
    const { networkEvents, errorCodes } = enumNetworkEvents(listenSocket, listenEvent);
    if (!(networkEvents & FD_ACCEPT) || errorCodes[FD_ACCEPT_BIT] !== 0) return;
    // One accept per FD_ACCEPT; if more connections wait, FD_ACCEPT is recorded again.
    const clientSock = listenSocket.tryAccept();
    if (clientSock === WOULD_BLOCK) return;
    addSocketInfo(clientSock);
  };

  const groups = new EventWaitGroups<SocketInfo>(listenEvent, {
    onListenerEvent: acceptOne,
    onMemberEvent: handleSocket,
    isRemoved: (info) => info.removed,
  });

  return {
    addr: listenSocket.addr,
    async close() {
      if (groups.stopped) return;
      await groups.stop();
      await listenSocket.close();
      closeEvent(listenEvent);
      for (const info of [...clients]) removeSocketInfo(info, false);
      await closing.settled();
    },
  };
}
