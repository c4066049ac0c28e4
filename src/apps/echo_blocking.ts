/**
 * The blocking echo server of seed 001, one task per client (the seed's thread per client):
 * accept, then recv and send until recv returns 0.
 *
 *   sockmodels serve echo --model blocking --port 9000 --framing lp4
 *
 * With `--framing lp4` each client task reads a 4-byte length (READ_LEN), then the body
 * (READ_BODY), and writes the frame back (WRITE_BODY). With `varint` and `lines` it feeds
 * what recv returned to the framer's decoder and writes back each frame it completes.
 *
 * @module
 */
import { type BlockingSocket, listen, serveBlocking } from "../models/blocking.ts";
import { defaultTransport } from "../runtime/detect.ts";
import { echoCodec, type EchoServer, type EchoServerOptions, framedParts, MAX_ECHO_FRAME } from "./echo_framing.ts";
import { type FrameCodec, FrameTooLargeError } from "../framing/mod.ts";

async function echoRaw(sock: BlockingSocket): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  while (true) {
    const n = await sock.recv(buf);
    if (n === 0) return; // the client closed
    await sock.send(buf.subarray(0, n));
  }
}

async function echoFrames(sock: BlockingSocket): Promise<void> {
  const header = new Uint8Array(4);
  while (true) {
    // READ_LEN: a clean end of stream is only allowed between frames.
    const first = await sock.recv(header.subarray(0, 1));
    if (first === 0) return;
    header.set(await sock.recvExact(3), 1);
    const length = new DataView(header.buffer).getUint32(0);
    if (length > MAX_ECHO_FRAME) throw new FrameTooLargeError(length, MAX_ECHO_FRAME);
    // READ_BODY, then WRITE_BODY.
    const body = await sock.recvExact(length);
    await sock.send(header);
    await sock.send(body);
  }
}

async function echoDecoded(sock: BlockingSocket, codec: FrameCodec): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  const decoder = codec.decoder();
  while (true) {
    const n = await sock.recv(buf);
    if (n === 0) return decoder.end(); // throws on a truncated last frame
    for (const frame of decoder.push(buf.slice(0, n))) {
      for (const part of framedParts(codec, frame)) await sock.send(part);
    }
  }
}

/**
 * Starts the blocking echo server: one task per client.
 *
 * @example
 * ```ts
 * const server = await startBlockingEcho({ port: 0, framing: "lp4" });
 * console.log(`listening on ${server.addr.port}`);
 * await server.close();
 * ```
 */
export async function startBlockingEcho(options: EchoServerOptions = {}): Promise<EchoServer> {
  const transport = options.transport ?? await defaultTransport();
  const listener = await listen({ transport, hostname: options.hostname ?? "127.0.0.1", port: options.port ?? 0 });
  const open = new Set<BlockingSocket>();
  const codec = options.framing === "lp4" ? undefined : echoCodec(options.framing);
  const serving = serveBlocking(listener, async (sock) => {
    open.add(sock);
    try {
      if (options.framing === "lp4") await echoFrames(sock);
      else if (codec) await echoDecoded(sock, codec);
      else await echoRaw(sock);
    } finally {
      open.delete(sock);
    }
  }, {
    // A reset peer or a bad frame ends only that client's task.
    onError: () => {},
  });
  return {
    addr: listener.addr,
    async close() {
      await listener.close();
      for (const sock of open) sock.reset();
      await serving;
    },
  };
}
