/**
 * The poll echo of seed 004: non-blocking sockets, one `pollfd` array, and a state machine per
 * connection. Entry 0 is the listening socket (POLLIN); each client has an entry whose events
 * follow its state:
 *
 *   lp4:  READ_LEN ──4 bytes──▶ READ_BODY ──len bytes──▶ WRITE_BODY ──all sent──▶ READ_LEN
 *   raw:  READ_RAW ──a chunk──▶ WRITE_BODY ──all sent──▶ READ_RAW
 *   varint, lines:  READ_FRAMES ──a chunk, through the framer──▶ WRITE_BODY (the frames it
 *                   completed) ──all sent──▶ READ_FRAMES
 *
 * - Reading drains: recv until it would block (WOULD_BLOCK), as level-triggered poll expects.
 * - When a frame is complete the echo is sent at once; only if the send buffer fills is
 *   POLLOUT switched on (`wantWritable(conn, true)`), and it is switched off again as soon as
 *   the frame is out. POLLOUT left on would wake the loop on every pass, since a socket with
 *   room in its send buffer is always writable.
 * - While a frame is being written, POLLIN is off too: the connection reads its next frame
 *   only after the echo of this one is out, so a slow reader makes the server stop reading it
 *   (and TCP then slows the sender), and level-triggered POLLIN cannot spin the loop.
 * - POLLERR, POLLHUP and POLLNVAL are handled first: the connection is removed.
 * - Frames above CAP (16 MiB) close the connection before anything is allocated.
 *
 *   sockmodels serve echo --model poll --port 9000 --framing lp4
 *
 * @module
 */
import { poll, POLLERR, type PollFd, POLLHUP, POLLIN, POLLNVAL, POLLOUT } from "../models/select.ts";
import { NonBlockingListener, type NonBlockingSocket, WOULD_BLOCK } from "../models/nonblocking.ts";
import { listenAt } from "./listen_at.ts";
import { echoCodec, type EchoServer, type EchoServerOptions, framedBytes, MAX_ECHO_FRAME } from "./echo_framing.ts";
import type { FrameCodec, FrameDecoder } from "../framing/mod.ts";
import { PendingCloses } from "./pending_closes.ts";

/** The largest frame accepted (the seed's CAP). */
const CAP = MAX_ECHO_FRAME;

type State = "READ_LEN" | "READ_BODY" | "READ_RAW" | "READ_FRAMES" | "WRITE_BODY";
type Sock = NonBlockingSocket | NonBlockingListener;

interface Conn {
  sock: NonBlockingSocket;
  pfd: PollFd<Sock>; // this connection's entry in the pollfd array
  state: State;
  // READ_LEN: the 4-byte big-endian length header and how much of it has arrived.
  lenBuf: Uint8Array;
  lenRead: number;
  // READ_BODY: the frame being filled (header included, so it is echoed as it is).
  frame: Uint8Array;
  bodyRead: number;
  // WRITE_BODY: the bytes to send and how many went out.
  out: Uint8Array;
  outSent: number;
  // READ_FRAMES: the framer's decoder (varint and lines).
  decoder: FrameDecoder | undefined;
}

const EMPTY = new Uint8Array(0);

/**
 * Starts the poll echo server.
 *
 * @example
 * ```ts
 * const server = await startPollEcho({ port: 0, framing: "lp4" });
 * console.log(`listening on ${server.addr.port}`);
 * await server.close();
 * ```
 */
export async function startPollEcho(options: EchoServerOptions = {}): Promise<EchoServer> {
  const listenSocket = await NonBlockingListener.listen(listenAt(options));
  const lp4 = options.framing === "lp4";
  const codec: FrameCodec | undefined = lp4 ? undefined : echoCodec(options.framing);
  const readState: State = lp4 ? "READ_LEN" : codec ? "READ_FRAMES" : "READ_RAW";
  const pfds: PollFd<Sock>[] = [{ socket: listenSocket, events: POLLIN, revents: 0 }];
  const conns = new Map<Sock, Conn>();
  const closing = new PendingCloses();
  const buffer = new Uint8Array(64 * 1024);
  const stop = new AbortController();
  let removed = false;

  const addClient = (sock: NonBlockingSocket): void => {
    const pfd: PollFd<Sock> = { socket: sock, events: POLLIN, revents: 0 };
    pfds.push(pfd);
    conns.set(sock, {
      sock,
      pfd,
      state: readState,
      lenBuf: new Uint8Array(4),
      lenRead: 0,
      frame: EMPTY,
      bodyRead: 0,
      out: EMPTY,
      outSent: 0,
      decoder: codec?.decoder(),
    });
  };

  /** Closes (or, on an error, resets) a connection and takes its entry out of the array. */
  const removeFd = (c: Conn, abort: boolean): void => {
    conns.delete(c.sock);
    c.pfd.socket = null; // poll skips it; the array is compacted after this pass
    removed = true;
    if (abort) {
      c.sock.reset();
      return;
    }
    closing.close(c.sock);
  };

  const wantWritable = (c: Conn, on: boolean): void => {
    c.pfd.events = on ? POLLOUT : POLLIN;
  };

  /** WRITE_BODY: send what is left; back to reading once the whole echo is out. */
  const onWritable = (c: Conn): void => {
    while (c.outSent < c.out.byteLength) {
      const n = c.sock.trySend(c.outSent === 0 ? c.out : c.out.subarray(c.outSent));
      if (n === WOULD_BLOCK) {
        wantWritable(c, true); // POLLOUT on: tell me when there is room again
        return;
      }
      c.outSent += n;
    }
    c.out = EMPTY;
    c.outSent = 0;
    c.frame = EMPTY;
    c.lenRead = 0;
    c.bodyRead = 0;
    c.state = readState;
    wantWritable(c, false); // POLLOUT off: nothing is pending
  };

  const startWrite = (c: Conn, bytes: Uint8Array): void => {
    c.out = bytes;
    c.outSent = 0;
    c.state = "WRITE_BODY";
    onWritable(c);
  };

  /** POLLIN: run the read states until recv would block or an echo is waiting to go out. */
  const onReadable = (c: Conn): void => {
    while (c.state !== "WRITE_BODY") {
      if (c.state === "READ_RAW") {
        const n = c.sock.tryRecv(buffer);
        if (n === WOULD_BLOCK) return;
        if (n === 0) return removeFd(c, false); // the peer is done and its echo is out
        // The buffer is reused: send from it, and keep a copy only of what did not go out.
        const sent = c.sock.trySend(buffer.subarray(0, n));
        const done = sent === WOULD_BLOCK ? 0 : sent;
        if (done < n) startWrite(c, buffer.slice(done, n));
        continue;
      }
      if (c.state === "READ_FRAMES") {
        const n = c.sock.tryRecv(buffer);
        if (n === WOULD_BLOCK) return;
        if (n === 0) {
          c.decoder!.end(); // a truncated last frame throws, and the connection is reset
          return removeFd(c, false);
        }
        const frames = c.decoder!.push(buffer.slice(0, n));
        if (frames.length > 0) startWrite(c, framedBytes(codec!, frames));
        continue;
      }
      if (c.state === "READ_LEN") {
        const n = c.sock.tryRecv(c.lenRead === 0 ? c.lenBuf : c.lenBuf.subarray(c.lenRead));
        if (n === WOULD_BLOCK) return;
        if (n === 0) return removeFd(c, c.lenRead !== 0); // mid-header: a truncated frame
        c.lenRead += n;
        if (c.lenRead < 4) continue;
        const b = c.lenBuf;
        const bodyLen = (b[0] * 0x1000000) + ((b[1] << 16) | (b[2] << 8) | b[3]);
        if (bodyLen > CAP) return removeFd(c, true);
        c.frame = new Uint8Array(4 + bodyLen);
        c.frame.set(b);
        c.bodyRead = 0;
        c.state = "READ_BODY";
      }
      // READ_BODY
      const bodyLen = c.frame.byteLength - 4;
      if (c.bodyRead < bodyLen) {
        const n = c.sock.tryRecv(c.frame.subarray(4 + c.bodyRead));
        if (n === WOULD_BLOCK) return;
        if (n === 0) return removeFd(c, true); // the peer closed mid-frame
        c.bodyRead += n;
      }
      if (c.bodyRead === bodyLen) startWrite(c, c.frame);
    }
  };

  const loop = (async () => {
    while (!stop.signal.aborted) {
      let rc: number;
      try {
        rc = await poll(pfds, 10_000, { signal: stop.signal });
      } catch (error) {
        if (stop.signal.aborted) break;
        throw error;
      }
      if (rc === 0) continue; // 10 s without events: idle timeouts would go here

      for (let i = 0; i < pfds.length; i++) {
        const p = pfds[i];
        if (p.revents === 0 || p.socket === null) continue;

        if (p.socket === listenSocket) {
          // accept until it would block: the drain pattern on the listener.
          if (p.revents & POLLIN) {
            for (let s = listenSocket.tryAccept(); s !== WOULD_BLOCK; s = listenSocket.tryAccept()) addClient(s);
          }
          continue;
        }

        const c = conns.get(p.socket!);
        if (!c) continue;
        // Errors and hang-ups first: such a socket stays ready forever and would spin the loop.
        if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) {
          removeFd(c, true);
          continue;
        }
        try {
          if (p.revents & POLLIN) onReadable(c);
          if (conns.has(c.sock) && p.revents & POLLOUT && c.state === "WRITE_BODY") {
            onWritable(c);
            // The echo is out: the next frame may be waiting already.
            if (c.state !== "WRITE_BODY") onReadable(c);
          }
        } catch {
          if (conns.has(c.sock)) removeFd(c, true); // a reset: drop this connection only
        }
      }

      if (removed) {
        removed = false;
        let kept = 0;
        for (let i = 0; i < pfds.length; i++) if (pfds[i].socket !== null) pfds[kept++] = pfds[i];
        pfds.length = kept;
      }
    }
  })();

  return {
    addr: listenSocket.addr,
    async close() {
      stop.abort();
      await loop;
      await listenSocket.close();
      for (const c of [...conns.values()]) removeFd(c, false);
      await closing.settled();
    },
  };
}
