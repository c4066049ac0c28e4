/**
 * Seed 001's IOCP chat: a completion port with workers, and every message a client sends
 * is posted as an overlapped send to every connected client. With `--framing lp4` a message
 * is one 4-byte-length frame; with `--framing raw`, whatever one receive returned.
 *
 *   deno run -A examples/chat_iocp.ts --port 9000
 */
import {
  CompletionPort,
  type CompletionStatus,
  OverlappedListener,
  type OverlappedSocket,
} from "../src/models/iocp.ts";
import { availableParallelism, defaultTransport } from "../src/runtime/detect.ts";
import { type EchoServer, type EchoServerOptions, isMain, lp4, runEchoCli } from "./echo_common.ts";
import type { FrameDecoder } from "../src/framing/mod.ts";

interface Client {
  socket: OverlappedSocket;
  decoder: FrameDecoder | undefined;
  buffer: Uint8Array;
}

const EXIT = Symbol("exit packet");
const LISTENER = Symbol("listener");
/** A client whose unsent broadcasts pass this is too slow and is dropped. */
const MAX_UNSENT = 4 * 1024 * 1024;

/** Starts the IOCP chat server. */
export async function startChat(options: EchoServerOptions = {}): Promise<EchoServer> {
  const transport = options.transport ?? await defaultTransport();
  const codec = options.framing === "lp4" ? lp4() : undefined;
  const port = new CompletionPort();
  const listener = await OverlappedListener.listen({ transport, hostname: options.hostname ?? "127.0.0.1", port: options.port ?? 0 });
  port.associate(listener, LISTENER);
  const clients = new Set<Client>();
  let stopping = false;
  for (let i = 0; i < 8; i++) port.postAccept(listener, { op: "accept" });

  const drop = (c: Client) => {
    if (clients.delete(c)) void c.socket.close();
  };
  const broadcast = (message: Uint8Array) => {
    const wire = codec ? codec.encode(message) : message.slice();
    for (const c of clients) {
      if (c.socket.core.sendQueued > MAX_UNSENT) drop(c);
      else port.postSend(c.socket, wire, { op: "send" });
    }
  };

  const handle = (s: CompletionStatus) => {
    if (s.key === LISTENER) {
      if (!s.ok) return;
      const c: Client = { socket: s.socket!, decoder: codec?.decoder(), buffer: new Uint8Array(16 * 1024) };
      clients.add(c);
      port.associate(c.socket, c);
      port.postRecv(c.socket, c.buffer, { op: "recv" });
      if (!stopping) port.postAccept(listener, { op: "accept" });
      return;
    }
    const c = s.key as Client;
    const op = (s.overlapped as { op: string }).op;
    if (!s.ok) return drop(c);
    if (op !== "recv") return;
    if (s.bytesTransferred === 0) return drop(c);
    const data = c.buffer.slice(0, s.bytesTransferred);
    try {
      if (c.decoder) for (const frame of c.decoder.push(data)) broadcast(frame);
      else broadcast(data);
    } catch {
      return drop(c);
    }
    if (clients.has(c)) port.postRecv(c.socket, c.buffer, { op: "recv" });
  };

  const count = 2 * availableParallelism();
  const workers = Array.from({ length: count }, async () => {
    const w = port.worker();
    while (true) {
      const s = await w.getQueuedCompletionStatus();
      if (s.key === EXIT || (!s.ok && s.overlapped === null)) break;
      handle(s);
    }
    w.release();
  });

  return {
    addr: listener.addr,
    async close() {
      stopping = true;
      await listener.close();
      for (const c of [...clients]) drop(c);
      for (let i = 0; i < count; i++) port.postQueuedCompletionStatus(0, EXIT);
      await Promise.all(workers);
      port.close();
    },
  };
}

/** The chat under the echo examples' name. */
export const startEcho: (options: EchoServerOptions) => Promise<EchoServer> = startChat;

if (isMain(import.meta.url)) await runEchoCli("chat_iocp", startChat);
