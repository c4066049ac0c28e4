/**
 * The WSAEventSelect echo of seeds 001 and 003: one event object per socket, parallel arrays of
 * sockets and events, and a loop of `waitForMultipleEvents` and `enumNetworkEvents` that handles
 * FD_ACCEPT, FD_READ, FD_WRITE and FD_CLOSE. One wait takes at most 64 events
 * (WSA_MAXIMUM_WAIT_EVENTS), so, as Winsock servers run one thread per 64 events, this server
 * runs one waiting loop per group of 64; the first group's event 0 is the listening socket's,
 * and the other groups' event 0 wakes them when a socket joins.
 *
 *   deno run -A examples/echo_event_select.ts --port 9000 --framing raw
 */
import { NonBlockingListener, type NonBlockingSocket, WOULD_BLOCK } from "../src/models/nonblocking.ts";
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
  setEvent,
  WAIT_OBJECT_0,
  waitForMultipleEvents,
  WSA_MAXIMUM_WAIT_EVENTS,
  type WsaEvent,
} from "../src/models/event_select.ts";
import { defaultTransport } from "../src/runtime/detect.ts";
import type { FrameCodec, FrameDecoder } from "../src/framing/mod.ts";
import { type EchoServer, type EchoServerOptions, isMain, lp4, runEchoCli } from "./echo_common.ts";

const BUFSIZE = 64 * 1024;
/** Stop reading a client while this much echo is still unsent (a slow reader). */
const MAX_BACKLOG = 1024 * 1024;

/** The seed's SOCKETINFO, with the echo that could not be sent yet. */
interface SocketInfo {
  sock: NonBlockingSocket;
  event: WsaEvent;
  group: WaitGroup;
  out: Uint8Array[];
  outHead: number;
  outBytes: number;
  decoder?: FrameDecoder;
  readStopped: boolean;
  peerClosed: boolean;
  removed: boolean;
}

/** The arrays one waiting loop works on (the seed's arrSocketInfo and arrEvent). */
class WaitGroup {
  readonly arrEvent: WsaEvent[];
  readonly arrSocketInfo: (SocketInfo | undefined)[] = [undefined];
  constructor(ownEvent: WsaEvent) {
    this.arrEvent = [ownEvent];
  }
  get totalSockets(): number {
    return this.arrEvent.length;
  }
}

/** Starts the WSAEventSelect echo server. */
export async function startEcho(options: EchoServerOptions = {}): Promise<EchoServer> {
  const transport = options.transport ?? await defaultTransport();
  const listenSocket = await NonBlockingListener.listen({
    transport,
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
  });
  const codec: FrameCodec | undefined = options.framing === "lp4" ? lp4() : undefined;
  const buf = new Uint8Array(BUFSIZE);
  const stop = new AbortController();
  const groups: WaitGroup[] = [];
  const loops: Promise<void>[] = [];
  const closing = new Set<Promise<void>>();

  // The listening socket only needs to hear about connections to accept.
  const listenEvent = createEvent();
  eventSelect(listenSocket, listenEvent, FD_ACCEPT | FD_CLOSE);
  const firstGroup = new WaitGroup(listenEvent);
  groups.push(firstGroup);

  const addSocketInfo = (sock: NonBlockingSocket): void => {
    let group = groups.find((g) => g.totalSockets < WSA_MAXIMUM_WAIT_EVENTS);
    if (!group) {
      group = new WaitGroup(createEvent());
      groups.push(group);
      loops.push(waitLoop(group));
    }
    const info: SocketInfo = {
      sock,
      event: createEvent(),
      group,
      out: [],
      outHead: 0,
      outBytes: 0,
      decoder: codec?.decoder(),
      readStopped: false,
      peerClosed: false,
      removed: false,
    };
    group.arrSocketInfo.push(info);
    group.arrEvent.push(info.event);
    eventSelect(sock, info.event, FD_READ | FD_WRITE | FD_CLOSE);
    // That group's loop waits on its old arrays: wake it so that it waits on the new ones.
    if (group !== firstGroup) setEvent(group.arrEvent[0]);
  };

  const removeSocketInfo = (info: SocketInfo, abort: boolean): void => {
    if (info.removed) return;
    info.removed = true;
    const group = info.group;
    const index = group.arrSocketInfo.indexOf(info);
    group.arrSocketInfo.splice(index, 1);
    group.arrEvent.splice(index, 1);
    closeEvent(info.event);
    if (abort) {
      info.sock.reset();
    } else {
      const done = info.sock.close().catch(() => {});
      closing.add(done);
      void done.then(() => closing.delete(done));
    }
  };

  const queue = (info: SocketInfo, bytes: Uint8Array): void => {
    info.out.push(bytes);
    info.outBytes += bytes.byteLength;
  };

  // Sends what is pending; a partial send keeps the tail for the next FD_WRITE.
  const sendPending = (info: SocketInfo): void => {
    try {
      while (info.outHead < info.out.length) {
        const head = info.out[info.outHead];
        const sent = info.sock.trySend(head);
        if (sent === WOULD_BLOCK) break;
        info.outBytes -= sent;
        if (sent < head.byteLength) {
          info.out[info.outHead] = head.subarray(sent);
          break;
        }
        info.outHead++;
      }
    } catch {
      removeSocketInfo(info, true);
      return;
    }
    if (info.outHead === info.out.length) {
      info.out.length = 0;
      info.outHead = 0;
    }
    if (info.readStopped && info.outBytes < MAX_BACKLOG) {
      // The slow reader caught up: a recv re-enables FD_READ.
      info.readStopped = false;
      recvOnce(info);
      return;
    }
    if (info.peerClosed && info.outBytes === 0) removeSocketInfo(info, false);
  };

  // One recv per FD_READ, as in the seed; if data is left, FD_READ is recorded again.
  const recvOnce = (info: SocketInfo): void => {
    if (info.outBytes >= MAX_BACKLOG) {
      info.readStopped = true;
      return;
    }
    try {
      const retval = info.sock.tryRecv(buf);
      if (retval === WOULD_BLOCK || retval === 0) return;
      const data = buf.slice(0, retval);
      if (info.decoder) {
        for (const frame of info.decoder.push(data)) {
          queue(info, codec!.encodeHeader(frame));
          queue(info, frame);
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
      if (info.outBytes === 0) removeSocketInfo(info, false);
    }
  };

  const handleGroupEvent = (group: WaitGroup): void => {
    if (group !== firstGroup) {
      resetEvent(group.arrEvent[0]);
      return;
    }
    const { networkEvents, errorCodes } = enumNetworkEvents(listenSocket, listenEvent);
    if (!(networkEvents & FD_ACCEPT) || errorCodes[FD_ACCEPT_BIT] !== 0) return;
    // One accept per FD_ACCEPT; if more connections wait, FD_ACCEPT is recorded again.
    const clientSock = listenSocket.tryAccept();
    if (clientSock === WOULD_BLOCK) return;
    addSocketInfo(clientSock);
  };

  async function waitLoop(group: WaitGroup): Promise<void> {
    while (!stop.signal.aborted) {
      let index: number;
      try {
        index = await waitForMultipleEvents(group.arrEvent, { signal: stop.signal });
      } catch {
        if (stop.signal.aborted) return;
        continue;
      }
      index -= WAIT_OBJECT_0;
      // The wait names the lowest signalled event. Serve every signalled one from there on,
      // so that busy sockets at low indexes do not starve the others.
      const ready: (SocketInfo | undefined)[] = [];
      for (let i = index; i < group.arrEvent.length; i++) {
        if (group.arrEvent[i].signaled) ready.push(group.arrSocketInfo[i]);
      }
      for (const info of ready) {
        if (info === undefined) handleGroupEvent(group);
        else if (!info.removed) handleSocket(info);
      }
    }
  }

  loops.push(waitLoop(firstGroup));

  return {
    addr: listenSocket.addr,
    async close() {
      if (stop.signal.aborted) return;
      stop.abort();
      await Promise.all(loops);
      await listenSocket.close();
      closeEvent(listenEvent);
      for (const group of groups) {
        for (const info of group.arrSocketInfo.slice(1)) if (info) removeSocketInfo(info, false);
        closeEvent(group.arrEvent[0]);
      }
      await Promise.all(closing);
    },
  };
}

if (isMain(import.meta.url)) await runEchoCli("echo_event_select", startEcho);
