/**
 * Seed 001's chat broadcast on the WSAEventSelect model: every line a client sends (with
 * `--framing lp4`, every 4-byte-length frame) is sent to every connected client, the sender
 * included. The loop is the seed's: an event per socket, `waitForMultipleEvents` over at most 64
 * of them, `enumNetworkEvents`, then FD_ACCEPT, FD_READ, FD_WRITE and FD_CLOSE; beyond 64
 * sockets it runs one waiting loop per group of 64.
 *
 *   deno run -A examples/chat_event_select.ts --port 9000
 *   nc 127.0.0.1 9000
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
/** While any client has this much unsent, nobody's messages are read (nothing piles up). */
const MAX_BACKLOG = 1024 * 1024;
/** A line longer than this is sent on as it is. */
const MAX_LINE = 64 * 1024;
const NEWLINE = 0x0a;

interface SocketInfo {
  sock: NonBlockingSocket;
  event: WsaEvent;
  group: WaitGroup;
  out: Uint8Array[];
  outHead: number;
  outBytes: number;
  decoder?: FrameDecoder;
  line: Uint8Array[];
  lineBytes: number;
  stalled: boolean;
  peerClosed: boolean;
  removed: boolean;
}

/** The arrays one waiting loop works on; index 0 is the group's own event. */
class WaitGroup {
  readonly arrEvent: WsaEvent[];
  readonly arrSocketInfo: (SocketInfo | undefined)[] = [undefined];
  constructor(ownEvent: WsaEvent) {
    this.arrEvent = [ownEvent];
  }
}

function joinParts(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.byteLength;
  }
  return out;
}

/** Starts the chat server. */
export async function startChat(options: EchoServerOptions = {}): Promise<EchoServer> {
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
  // Every connected client, in the order they came (the seed's g_vSocket).
  const clients = new Set<SocketInfo>();
  const slowClients = new Set<SocketInfo>();

  const listenEvent = createEvent();
  eventSelect(listenSocket, listenEvent, FD_ACCEPT | FD_CLOSE);
  const firstGroup = new WaitGroup(listenEvent);
  groups.push(firstGroup);

  const addSocketInfo = (sock: NonBlockingSocket): void => {
    let group = groups.find((g) => g.arrEvent.length < WSA_MAXIMUM_WAIT_EVENTS);
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
      line: [],
      lineBytes: 0,
      stalled: false,
      peerClosed: false,
      removed: false,
    };
    group.arrSocketInfo.push(info);
    group.arrEvent.push(info.event);
    clients.add(info);
    eventSelect(sock, info.event, FD_READ | FD_WRITE | FD_CLOSE);
    if (group !== firstGroup) setEvent(group.arrEvent[0]);
  };

  // May run from another group's loop (a failed broadcast): that loop's wait then fails on the
  // closed event and waits again on its new arrays.
  const removeSocketInfo = (info: SocketInfo, abort: boolean): void => {
    if (info.removed) return;
    info.removed = true;
    clients.delete(info);
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
    if (slowClients.delete(info)) resumeStalled();
  };

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
    if (info.outBytes < MAX_BACKLOG && slowClients.delete(info)) resumeStalled();
    if (info.peerClosed && info.outBytes === 0) removeSocketInfo(info, false);
  };

  // Sends one message to every client still reading (the seed's loop over g_vSocket).
  const broadcast = (message: Uint8Array): void => {
    const parts = codec ? [codec.encodeHeader(message), message] : [message];
    for (const info of [...clients]) {
      if (info.peerClosed) continue;
      for (const p of parts) {
        info.out.push(p);
        info.outBytes += p.byteLength;
      }
      if (info.outBytes >= MAX_BACKLOG) slowClients.add(info);
      sendPending(info);
    }
  };

  const flushLine = (info: SocketInfo): void => {
    if (info.lineBytes === 0) return;
    const line = joinParts(info.line, info.lineBytes);
    info.line = [];
    info.lineBytes = 0;
    broadcast(line);
  };

  const takeLines = (info: SocketInfo, data: Uint8Array): void => {
    let start = 0;
    for (let nl = data.indexOf(NEWLINE); nl >= 0; nl = data.indexOf(NEWLINE, start)) {
      info.line.push(data.subarray(start, nl + 1));
      info.lineBytes += nl + 1 - start;
      flushLine(info);
      start = nl + 1;
    }
    if (start < data.byteLength) {
      info.line.push(data.subarray(start));
      info.lineBytes += data.byteLength - start;
      if (info.lineBytes >= MAX_LINE) flushLine(info);
    }
  };

  const recvOnce = (info: SocketInfo): void => {
    if (slowClients.size > 0) {
      // Somebody cannot keep up: read nothing more until they catch up.
      info.stalled = true;
      return;
    }
    try {
      const retval = info.sock.tryRecv(buf);
      if (retval === WOULD_BLOCK || retval === 0) return;
      const data = buf.slice(0, retval);
      if (info.decoder) for (const frame of info.decoder.push(data)) broadcast(frame);
      else takeLines(info, data);
    } catch {
      removeSocketInfo(info, true);
    }
  };

  const resumeStalled = (): void => {
    if (slowClients.size > 0) return;
    for (const info of clients) {
      if (!info.stalled || info.removed) continue;
      info.stalled = false;
      // The recv re-enables FD_READ: if more is waiting, FD_READ is recorded again.
      recvOnce(info);
      if (slowClients.size > 0) return;
    }
  };

  const handleSocket = (info: SocketInfo): void => {
    const { networkEvents, errorCodes } = enumNetworkEvents(info.sock, info.event);
    if (networkEvents & FD_READ) {
      if (errorCodes[FD_READ_BIT] !== 0) return removeSocketInfo(info, true);
      recvOnce(info);
    }
    if (networkEvents & FD_WRITE && !info.removed) sendPending(info);
    if (networkEvents & FD_CLOSE && !info.removed) {
      if (errorCodes[FD_CLOSE_BIT] !== 0) return removeSocketInfo(info, true);
      // The client is done talking: pass on its last words, then close once they are out.
      flushLine(info);
      info.peerClosed = true;
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
    const clientSock = listenSocket.tryAccept();
    if (clientSock !== WOULD_BLOCK) addSocketInfo(clientSock);
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
      for (const info of [...clients]) removeSocketInfo(info, false);
      for (const group of groups) closeEvent(group.arrEvent[0]);
      await Promise.all(closing);
    },
  };
}

/** The chat under the echo examples' name, so the shared tooling can start it. */
export const startEcho: (options: EchoServerOptions) => Promise<EchoServer> = startChat;

if (isMain(import.meta.url)) await runEchoCli("chat_event_select", startChat);
