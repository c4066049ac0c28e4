/**
 * Seed 001's chat on the iocp model: every message a client sends is sent to every
 * connected client. With `--framing raw` a message is whatever one receive returned; with
 * `--framing lp4` (or `varint`, `lines`) it is one frame. The server is
 * `startBroadcastChat("iocp")` in src/apps/chat/broadcast_chat.ts, on the peer host of
 * src/hosts/iocp.ts. The full chat, with rooms and nicknames, is `sockmodels serve chat`.
 *
 *   deno run -A examples/chat_iocp.ts --port 9000
 *   nc 127.0.0.1 9000
 */
import { startBroadcastChat } from "../src/apps/chat/broadcast_chat.ts";
import { type EchoServer, type EchoServerOptions, isMain, runEchoCli } from "./echo_common.ts";

/** Starts the chat server. */
export function startChat(options: EchoServerOptions = {}): Promise<EchoServer> {
  return startBroadcastChat("iocp", options);
}

/** The chat under the echo examples' name, so the shared tooling can start it. */
export const startEcho: (options: EchoServerOptions) => Promise<EchoServer> = startChat;

if (isMain(import.meta.url)) await runEchoCli("chat_iocp", startChat);
