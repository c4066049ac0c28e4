/**
 * An echo server on the epoll-style Selector in edge-triggered mode, with seed 004's drain
 * pattern. Each socket is registered once, for POLLIN | POLLOUT, and never modified: with edge
 * triggering an event means "something changed", not "still ready", so on every event:
 *
 * - the listener accepts until WOULD_BLOCK;
 * - a client receives until WOULD_BLOCK (no new event comes for bytes left unread), and
 *   sends its pending output until WOULD_BLOCK (the next POLLOUT event comes when the send
 *   queue drains).
 *
 * A client whose unsent echo passes 1 MiB (a slow reader) stops being read before
 * WOULD_BLOCK. No event will remind us of the bytes left behind, so the client remembers it
 * (`readPending`) and drains its input again once its output has gone out.
 *
 * `wait` returns only ready sockets, in O(ready) time, however many are connected.
 *
 *   sockmodels serve echo --model selector --port 9000
 *
 * @module
 */
import { POLLERR, POLLHUP, POLLIN, POLLOUT, Selector } from "../models/select.ts";
import { NonBlockingListener, type NonBlockingSocket, WOULD_BLOCK } from "../models/nonblocking.ts";
import { listenAt } from "./listen_at.ts";
import type { FrameCodec, FrameDecoder } from "../framing/mod.ts";
import { echoCodec, type EchoServer, type EchoServerOptions, framedParts } from "./echo_framing.ts";
import { PendingCloses } from "./pending_closes.ts";
import { SendQueue } from "./send_queue.ts";

/** Stop reading a client while this much echo is still unsent (a slow reader). */
const MAX_BACKLOG = 1024 * 1024;
/** The wait of every pass: at most 256 events (epoll's maxevents), no timeout. */
const WAIT_OPTIONS = { maxEvents: 256 };

type Sock = NonBlockingSocket | NonBlockingListener;

interface Client {
  sock: NonBlockingSocket;
  out: SendQueue; // bytes still to send, in order
  decoder: FrameDecoder | undefined;
  readPending: boolean; // stopped reading before WOULD_BLOCK
  peerClosed: boolean;
}

/**
 * Starts the edge-triggered Selector echo server.
 *
 * @example
 * ```ts
 * const server = await startSelectorEcho({ port: 0, framing: "lp4" });
 * console.log(`listening on ${server.addr.port}`);
 * await server.close();
 * ```
 */
export async function startSelectorEcho(options: EchoServerOptions = {}): Promise<EchoServer> {
  const listener = await NonBlockingListener.listen(listenAt(options));
  const codec: FrameCodec | undefined = echoCodec(options.framing);
  const selector = new Selector<Sock, Client | undefined>({ mode: "edge" });
  const clients = new Set<Client>();
  const closing = new PendingCloses();
  const buffer = new Uint8Array(64 * 1024);

  selector.register(listener, POLLIN);

  const drop = (c: Client, abort: boolean): void => {
    clients.delete(c);
    selector.unregister(c.sock);
    if (abort) {
      c.sock.reset();
      return;
    }
    closing.close(c.sock);
  };

  const queue = (c: Client, bytes: Uint8Array): void => c.out.push(bytes);

  /** send until WOULD_BLOCK (which arms the next POLLOUT edge) or nothing is left. */
  const drainWrite = (c: Client): void => {
    c.out.drain(c.sock, true);
  };

  /** recv until WOULD_BLOCK (or the backlog limit), echoing as it goes. */
  const drainRead = (c: Client): void => {
    while (!c.peerClosed) {
      if (c.out.bytes >= MAX_BACKLOG) {
        c.readPending = true; // no event will come for what is left: drain again later
        return;
      }
      const n = c.sock.tryRecv(buffer);
      if (n === WOULD_BLOCK) break;
      if (n === 0) {
        c.peerClosed = true;
        c.decoder?.end(); // throws on a truncated frame
        break;
      }
      if (c.decoder) {
        for (const frame of c.decoder.push(buffer.slice(0, n))) {
          for (const part of framedParts(codec!, frame)) queue(c, part);
        }
        drainWrite(c);
      } else if (c.out.bytes === 0) {
        // Send straight from the reused buffer; keep a copy only of what did not go out.
        const sent = c.sock.trySend(buffer.subarray(0, n));
        const done = sent === WOULD_BLOCK ? 0 : sent;
        if (done < n) {
          queue(c, buffer.slice(done, n));
          drainWrite(c); // arms the POLLOUT edge if the send buffer is full
        }
      } else {
        queue(c, buffer.slice(0, n));
      }
    }
    c.readPending = false;
  };

  const onClientEvent = (c: Client, events: number): void => {
    try {
      if (events & POLLIN) drainRead(c);
      if ((events & (POLLOUT | POLLERR | POLLHUP)) || c.out.bytes > 0) drainWrite(c);
      // The output drained below the limit: read what was left behind.
      while (c.readPending && c.out.bytes < MAX_BACKLOG) {
        drainRead(c);
        drainWrite(c);
      }
      if (events & (POLLERR | POLLHUP) && !(events & POLLIN)) drainRead(c); // surfaces the error or EOF
    } catch {
      drop(c, true); // a reset or a bad frame: drop this client only
      return;
    }
    if (c.peerClosed && c.out.bytes === 0) drop(c, false);
  };

  const loop = (async () => {
    while (!selector.closed) {
      let events;
      try {
        events = await selector.wait(WAIT_OPTIONS);
      } catch (error) {
        if (selector.closed) break;
        throw error;
      }
      for (let i = 0; i < events.length; i++) {
        const { socket, events: ev, data } = events[i];
        if (socket === listener) {
          // accept until WOULD_BLOCK: one event may stand for many connections.
          for (let s = listener.tryAccept(); s !== WOULD_BLOCK; s = listener.tryAccept()) {
            const c: Client = {
              sock: s,
              out: new SendQueue(),
              decoder: codec?.decoder(),
              readPending: false,
              peerClosed: false,
            };
            clients.add(c);
            selector.register(s, POLLIN | POLLOUT, c);
          }
        } else if (data && clients.has(data)) {
          onClientEvent(data, ev);
        }
      }
    }
  })();

  return {
    addr: listener.addr,
    async close() {
      selector.close(); // the pending wait rejects, and the loop ends
      await loop;
      await listener.close();
      for (const c of [...clients]) drop(c, false);
      await closing.settled();
    },
  };
}
