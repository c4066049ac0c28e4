/**
 * The non-blocking polling echo of seed 003: every socket is non-blocking, and one loop tries
 * accept, recv and send on each of them in turn, moving on whenever a call would block
 * (WSAEWOULDBLOCK). It wastes CPU on idle passes, which is the seed's point about this model.
 *
 *   sockmodels serve echo --model nonblocking --port 9000 --framing raw
 *
 * @module
 */
import { NonBlockingListener, type NonBlockingSocket, WOULD_BLOCK } from "../models/nonblocking.ts";
import { listenAt } from "./listen_at.ts";
import { echoCodec, type EchoServer, type EchoServerOptions, framedParts } from "./echo_framing.ts";
import { nextEventLoopTurn } from "../platform/process.ts";
import type { FrameCodec, FrameDecoder } from "../framing/mod.ts";
import { SendQueue } from "./send_queue.ts";

/** Stop reading a client while this much echo is still unsent (a slow reader). */
const MAX_BACKLOG = 1024 * 1024;

interface Client {
  sock: NonBlockingSocket;
  out: SendQueue; // bytes still to send, in order
  decoder?: FrameDecoder;
  peerClosed: boolean;
}

/**
 * Starts the non-blocking polling echo server.
 *
 * @example
 * ```ts
 * const server = await startNonBlockingEcho({ port: 0, framing: "lp4" });
 * console.log(`listening on ${server.addr.port}`);
 * await server.close();
 * ```
 */
export async function startNonBlockingEcho(options: EchoServerOptions = {}): Promise<EchoServer> {
  const listener = await NonBlockingListener.listen(listenAt(options));
  const codec: FrameCodec | undefined = echoCodec(options.framing);
  const clients: Client[] = [];
  const buf = new Uint8Array(64 * 1024);
  let running = true;

  const queue = (c: Client, bytes: Uint8Array) => c.out.push(bytes);

  // Returns true when the pass did any work.
  const serviceClient = (c: Client): boolean => {
    let worked = false;
    try {
      // recv until it would block (or the backlog is too large).
      while (!c.peerClosed && c.out.bytes < MAX_BACKLOG) {
        const n = c.sock.tryRecv(buf);
        if (n === WOULD_BLOCK) break;
        worked = true;
        if (n === 0) {
          c.peerClosed = true;
          c.decoder?.end();
          break;
        }
        const data = buf.slice(0, n);
        if (c.decoder) {
          for (const frame of c.decoder.push(data)) {
            for (const part of framedParts(codec!, frame)) queue(c, part);
          }
        } else queue(c, data);
      }
      // send until it would block; a partial send keeps the tail.
      const unsent = c.out.bytes;
      c.out.drain(c.sock);
      if (c.out.bytes < unsent) worked = true;
    } catch {
      // A reset or a bad frame: drop this client only.
      c.sock.reset();
      c.peerClosed = true;
      c.out.clear();
    }
    return worked;
  };

  const loop = (async () => {
    while (running) {
      let worked = false;
      for (let s = listener.tryAccept(); s !== WOULD_BLOCK; s = listener.tryAccept()) {
        clients.push({ sock: s, out: new SendQueue(), decoder: codec?.decoder(), peerClosed: false });
        worked = true;
      }
      for (let i = 0; i < clients.length; i++) {
        const c = clients[i];
        if (serviceClient(c)) worked = true;
        if (c.peerClosed && c.out.bytes === 0) {
          void c.sock.close();
          clients[i] = clients[clients.length - 1];
          clients.pop();
          i--;
        }
      }
      // Yield to the event loop so that more data can arrive; an idle pass waits a little.
      if (worked) await nextEventLoopTurn();
      else await new Promise((r) => setTimeout(r, 1));
    }
  })();

  return {
    addr: listener.addr,
    async close() {
      running = false;
      await loop;
      await listener.close();
      await Promise.all(clients.map((c) => c.sock.close()));
    },
  };
}
