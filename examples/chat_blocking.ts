/**
 * Seed 001's chat with a task per client (the seed's thread per client): every message a
 * client sends is sent to every connected client. With `--framing raw` a message is whatever
 * one recv returned; with `--framing lp4` it is one 4-byte-length frame.
 *
 *   deno run -A examples/chat_blocking.ts --port 9000
 *   nc 127.0.0.1 9000
 */
import { type BlockingSocket, listen, serveBlocking } from "../src/models/blocking.ts";
import { defaultTransport } from "../src/runtime/detect.ts";
import { type EchoServer, type EchoServerOptions, isMain, lp4, runEchoCli } from "./echo_common.ts";

/** A client that cannot take a broadcast within this time is dropped, so it stalls no one. */
const SEND_TIMEOUT_MS = 5000;

/** Starts the chat server. */
export async function startChat(options: EchoServerOptions = {}): Promise<EchoServer> {
  const transport = options.transport ?? await defaultTransport();
  const listener = await listen({ transport, hostname: options.hostname ?? "127.0.0.1", port: options.port ?? 0 });
  const clients = new Set<BlockingSocket>();
  const codec = options.framing === "lp4" ? lp4() : undefined;

  const broadcast = async (message: Uint8Array) => {
    const wire = codec ? codec.encode(message) : message;
    await Promise.all([...clients].map((c) =>
      c.send(wire, { timeoutMs: SEND_TIMEOUT_MS }).catch(() => {
        clients.delete(c);
        c.reset();
      })
    ));
  };

  const serving = serveBlocking(listener, async (sock) => {
    clients.add(sock);
    try {
      const buf = new Uint8Array(16 * 1024);
      const decoder = codec?.decoder();
      while (true) {
        const n = await sock.recv(buf);
        if (n === 0) break;
        const data = buf.slice(0, n);
        if (decoder) for (const frame of decoder.push(data)) await broadcast(frame);
        else await broadcast(data);
      }
    } finally {
      clients.delete(sock);
    }
  }, { onError: () => {} });

  return {
    addr: listener.addr,
    async close() {
      await listener.close();
      for (const c of clients) c.reset();
      await serving;
    },
  };
}

/** The chat under the echo examples' name, so the shared tooling can start it. */
export const startEcho: (options: EchoServerOptions) => Promise<EchoServer> = startChat;

if (isMain(import.meta.url)) await runEchoCli("chat_blocking", startChat);
