/**
 * The plainest chat, as the seed's chat examples write it: every message a client sends goes
 * to every connected client, the sender included, with nothing added. A message is one frame
 * of the chosen framing, or with `raw` whatever one receive returned. A client whose unsent
 * messages pass {@linkcode BROADCAST_MAX_UNSENT} is reset, so it stalls nobody.
 *
 * @module
 */

import { echoCodec, type EchoServer, type EchoServerOptions } from "../echo.ts";
import { rawChunks } from "../../framing/raw.ts";
import { type HostModel, startHost } from "../../hosts/mod.ts";
import type { Peer } from "../../hosts/types.ts";

/**
 * Bytes queued for one client past which the broadcast chat resets it.
 *
 * @example
 * ```ts
 * console.log(BROADCAST_MAX_UNSENT); // 4194304
 * ```
 */
export const BROADCAST_MAX_UNSENT = 4 * 1024 * 1024;

/**
 * Starts the broadcast chat on a model's peer host.
 *
 * @example
 * ```ts
 * const chat = await startBroadcastChat("event-select", { port: 0, framing: "lp4" });
 * await chat.close();
 * ```
 */
export async function startBroadcastChat(model: HostModel, options: EchoServerOptions = {}): Promise<EchoServer> {
  const peers = new Set<Peer>();
  return await startHost(model, {
    transport: options.transport,
    hostname: options.hostname,
    port: options.port,
    codec: echoCodec(options.framing) ?? rawChunks(),
    // Past BROADCAST_MAX_UNSENT the chat resets the client itself.
    highWaterMark: Infinity,
    app: {
      onOpen: (peer) => void peers.add(peer),
      onFrame(_from, frame) {
        // The frame may be a view of a buffer the host reuses: every client gets the same copy.
        const message = frame.slice();
        for (const peer of peers) {
          peer.send(message);
          if (peer.unsentBytes > BROADCAST_MAX_UNSENT) peer.reset();
        }
      },
      onClose: (peer) => void peers.delete(peer),
    },
  });
}
