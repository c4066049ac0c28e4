/**
 * The chat server: {@linkcode ChatHub} on the peer host of a chosen model, with lines or
 * 4-byte-length frames.
 *
 * @module
 */

import { delimited, lengthPrefixed } from "../../framing/mod.ts";
import type { FrameCodec } from "../../framing/types.ts";
import type { Addr, TlsServerOptions, Transport } from "../../runtime/types.ts";
import { ChatHub, type ChatHubOptions, MAX_CHAT_MESSAGE } from "./chat_hub.ts";
import { type HostModel, startHost } from "../../hosts/mod.ts";
import type { ClientLimits } from "../../hosts/types.ts";

/**
 * The framings of the chat: lines ending in `\n` (what `nc` sends), or frames with a 4-byte
 * big-endian length.
 *
 * @example
 * ```ts
 * const framing: ChatFraming = "lines";
 * ```
 */
export type ChatFraming = "lines" | "lp4";

/**
 * Every chat framing.
 *
 * @example
 * ```ts
 * console.log(CHAT_FRAMINGS.join("|")); // lines|lp4
 * ```
 */
export const CHAT_FRAMINGS: readonly ChatFraming[] = ["lines", "lp4"];

/**
 * Options of {@linkcode startChatServer}.
 *
 * @example
 * ```ts
 * const options: ChatServerOptions = { port: 9000, model: "select", framing: "lines" };
 * ```
 */
export interface ChatServerOptions extends ChatHubOptions, ClientLimits {
  /** The transport. Default: the runtime's own. */
  transport?: Transport;
  /** The address to bind. Default 127.0.0.1. */
  hostname?: string;
  /** The port; 0 (the default) picks an ephemeral one. */
  port?: number;
  /** The I/O model. Default engine. */
  model?: HostModel;
  /** The framing. Default lines. */
  framing?: ChatFraming;
  /** Serve TLS: certificate, key, and optionally client certificates and ALPN. */
  tls?: TlsServerOptions;
}

/**
 * A running chat server.
 *
 * @example
 * ```ts
 * const chat: ChatServer = await startChatServer({ port: 0 });
 * console.log(chat.addr.port, chat.hub.members);
 * await chat.close();
 * ```
 */
export interface ChatServer {
  /** The bound address. */
  readonly addr: Addr;
  /** The chat itself: rooms and members. */
  readonly hub: ChatHub;
  /** Tells everyone, stops accepting, closes every client and resolves once done. */
  close(): Promise<void>;
}

/**
 * The codec of a chat framing; messages are at most {@linkcode MAX_CHAT_MESSAGE} bytes.
 *
 * @example
 * ```ts
 * const codec = chatCodec("lp4");
 * ```
 */
export function chatCodec(framing: ChatFraming): FrameCodec {
  if (framing === "lines") return delimited({ delimiter: "\n", maxFrameLength: MAX_CHAT_MESSAGE });
  if (framing === "lp4") return lengthPrefixed({ lengthFieldLength: 4, maxFrameLength: MAX_CHAT_MESSAGE });
  throw new RangeError(`Chat framing must be one of ${CHAT_FRAMINGS.join(", ")}, got ${JSON.stringify(framing)}`);
}

/**
 * Starts the chat server.
 *
 * @example
 * ```ts
 * const chat = await startChatServer({ port: 9000, model: "iocp" });
 * // then: nc 127.0.0.1 9000
 * await chat.close();
 * ```
 */
export async function startChatServer(options: ChatServerOptions = {}): Promise<ChatServer> {
  const hub = new ChatHub(options);
  // A node of a shared chat takes clients once its bus lets it: a worker of a group knows
  // the others' members first.
  await hub.ready;
  let host: Awaited<ReturnType<typeof startHost>>;
  try {
    host = await startHost(options.model ?? "engine", {
      transport: options.transport,
      hostname: options.hostname,
      port: options.port,
      tls: options.tls,
      codec: chatCodec(options.framing ?? "lines"),
      // The hub decides what a slow client costs: it throttles senders and cuts clients that stop reading.
      highWaterMark: Infinity,
      app: hub,
      maxConnections: options.maxConnections,
      idleTimeoutMs: options.idleTimeoutMs,
      onRefused: options.onRefused,
    });
  } catch (error) {
    hub.close();
    await hub.stop();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    addr: host.addr,
    hub,
    close() {
      return closing ??= (async () => {
        hub.close();
        await host.close();
        await hub.stop();
      })();
    },
  };
}
