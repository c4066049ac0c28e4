/**
 * The bare adapter echo: every chunk read is written back as it came, on the runtime adapter
 * with no model and no framing above it. It is the baseline the models are measured against,
 * and it echoes any framing byte for byte.
 *
 * @module
 */

import { defaultTransport } from "../runtime/detect.ts";
import type { Stream } from "../runtime/types.ts";
import type { EchoServer, EchoServerOptions } from "./echo_framing.ts";

/**
 * Starts the adapter echo. `framing` is ignored: the bytes come back unchanged whatever they
 * carry. Backpressure is the adapter's: reading stops while the echo is above the stream's
 * high water mark, and resumes on drain.
 *
 * @example
 * ```ts
 * const server = await startAdapterEcho({ port: 0 });
 * console.log(`listening on ${server.addr.port}`);
 * await server.close();
 * ```
 */
export async function startAdapterEcho(options: EchoServerOptions = {}): Promise<EchoServer> {
  const transport = options.transport ?? await defaultTransport();
  const open = new Set<Stream>();
  let closing = false;
  const listener = await transport.listen({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
    onAccept(stream) {
      open.add(stream);
      stream.setHandlers({
        onData(chunk) {
          // Once the server is closing, its sending side is ended: nothing more is echoed.
          if (closing) return;
          // Stop reading while the peer is slow to read our echo; TCP then slows the sender.
          if (!stream.write(chunk)) stream.pause();
        },
        onDrain: () => stream.resume(),
        onClose: () => open.delete(stream),
      });
    },
  });
  return {
    addr: listener.addr,
    async close() {
      closing = true;
      await listener.close();
      await Promise.all([...open].map((s) => s.close()));
    },
  };
}
