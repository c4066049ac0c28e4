/**
 * The host on `poll` (seed 004): non-blocking sockets, one `pollfd` array, and a state
 * machine per client. Entry 0 is the listening socket (POLLIN); each client has an entry
 * whose events follow its state:
 *
 *   length-prefixed:  READ_LEN ──header──▶ READ_BODY ──body──▶ (the application) ──▶ READ_LEN
 *   other codecs:     READ_FRAMES ──a chunk, through the codec──▶ (the application) ──▶ READ_FRAMES
 *   any state ──a send would block──▶ WRITE_BODY ──all sent──▶ back to the state it left
 *
 * The rules it follows:
 *
 * - With a plain length-prefixed codec (length field at offset 0, stripped, of 1 to 4 bytes),
 *   READ_LEN receives into the header and READ_BODY straight into the frame, sized from the
 *   header once it is complete; a length above the codec's `maxFrameLength` ends the client
 *   with a `FrameTooLargeError` before anything is allocated. Other codecs read through
 *   their decoder.
 * - Reading drains: recv until it would block, as level-triggered poll expects.
 * - What the application sends goes out at once; only if the send buffer fills is POLLOUT
 *   switched on (WRITE_BODY), and it is switched off again as soon as the output is out.
 *   POLLOUT left on would wake the loop on every pass, since a socket with room in its send
 *   buffer is always writable.
 * - In WRITE_BODY, POLLIN is off too: a client is read again only once its output is out, so
 *   a slow reader stops being read (and TCP then slows it down), and level-triggered POLLIN
 *   cannot spin the loop.
 * - POLLERR, POLLHUP and POLLNVAL are handled first: the client is removed.
 *
 * @module
 */

import { FrameTooLargeError } from "../framing/errors.ts";
import type { LengthPrefixedCodec } from "../framing/length_prefixed.ts";
import type { FrameCodec } from "../framing/types.ts";
import { NonBlockingListener, type NonBlockingSocket, WOULD_BLOCK } from "../models/nonblocking.ts";
import { poll, POLLERR, type PollFd, POLLHUP, POLLIN, POLLNVAL, POLLOUT } from "../models/select.ts";
import { closePeers } from "./_close_peers.ts";
import { listenAt } from "./_listen_at.ts";
import { PendingCloses } from "./_pending_closes.ts";
import { ReceiveSlab } from "./_receive_slab.ts";
import { DEFAULT_HIGH_WATER_MARK, SocketPeer, type SocketPeerIo, SocketPeerSetup } from "./_socket_peer.ts";
import type { PeerHost, PeerHostOptions } from "./types.ts";

type State = "READ_LEN" | "READ_BODY" | "READ_FRAMES" | "WRITE_BODY";
type Sock = NonBlockingSocket | NonBlockingListener;

/** The header of a length-prefixed codec that READ_LEN and READ_BODY can cut by hand. */
interface PlainHeader {
  size: number;
  littleEndian: boolean;
  maxFrameLength: number;
}

interface Conn {
  sock: NonBlockingSocket;
  peer: SocketPeer<Conn>;
  pfd: PollFd<Sock>; // this client's entry in the pollfd array
  state: State;
  /** The read state to go back to once WRITE_BODY is done. */
  resumeState: State;
  // READ_LEN: the value of the length field's bytes that have arrived, and their count.
  headerValue: number;
  headerRead: number;
  // READ_BODY: the frame being filled.
  body: Uint8Array;
  bodyRead: number;
}

const EMPTY = new Uint8Array(0);
const POLL_TIMEOUT_MS = 10_000;

/** The header layout of `codec` when it is a plain length prefix, else undefined. */
function plainHeader(codec: FrameCodec): PlainHeader | undefined {
  if (codec.name !== "length-prefixed") return undefined;
  const o = (codec as LengthPrefixedCodec).options;
  const size = o.lengthFieldLength;
  if (size > 4 || o.lengthFieldOffset !== 0 || o.lengthAdjustment !== 0 || o.lengthIncludesHeader) return undefined;
  if (o.initialBytesToStrip !== size) return undefined;
  return { size, littleEndian: o.byteOrder === "le", maxFrameLength: o.maxFrameLength };
}

/** Adds the length field's bytes that arrived (`bytes`, from byte `at` of the field) to `value`. */
function addFieldBytes(value: number, bytes: Uint8Array, at: number, littleEndian: boolean): number {
  for (let i = 0; i < bytes.length; i++) {
    value = littleEndian ? value + bytes[i] * 2 ** (8 * (at + i)) : value * 256 + bytes[i];
  }
  return value;
}

/**
 * Starts a host on `poll`.
 *
 * @example
 * ```ts
 * import { lengthPrefixed } from "sockmodels/framing";
 * import { startPollHost } from "sockmodels/hosts";
 * const host = await startPollHost({ port: 0, codec: lengthPrefixed(), app: { onFrame: (p, f) => p.send(f) } });
 * await host.close();
 * ```
 */
export async function startPollHost(options: PeerHostOptions): Promise<PeerHost> {
  const { app, codec } = options;
  const highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
  const plain = plainHeader(codec);
  const readState: State = plain ? "READ_LEN" : "READ_FRAMES";
  const listenSocket = await NonBlockingListener.listen(listenAt(options));
  const listenFd: PollFd<Sock> = { socket: listenSocket, events: POLLIN, revents: 0 };
  const pfds: PollFd<Sock>[] = [listenFd];
  const conns = new Map<Sock, Conn>();
  const closing = new PendingCloses();
  const slab = new ReceiveSlab();
  let accepting = true;
  let stopped = false;
  let handling = false;
  let removed = false;
  // A pass waits on this signal, so that closing, or output queued outside the loop (by a
  // timer of the application), can wake the wait; once aborted, the next pass takes a new one.
  let pass = new AbortController();

  /** A send would block: POLLOUT on, POLLIN off, until the output is out. */
  const startWrite = (c: Conn): void => {
    if (c.state === "WRITE_BODY") return;
    c.resumeState = c.state;
    c.state = "WRITE_BODY";
    c.pfd.events = POLLOUT;
    if (!handling) pass.abort();
  };

  const io: SocketPeerIo<Conn> = {
    trySend(c, bytes) {
      const sent = c.sock.trySend(bytes);
      if (sent === WOULD_BLOCK || sent < bytes.byteLength) startWrite(c);
      return sent;
    },
    socketQueued: (c) => c.sock.core.sendQueued,
    finish({ handle: c }, abort) {
      conns.delete(c.sock);
      c.pfd.socket = null; // poll skips it; the array is compacted after this pass
      removed = true;
      if (!handling) pass.abort();
      if (abort) return c.sock.reset();
      closing.close(c.sock);
    },
    resetSocket: (c) => c.sock.reset(),
    holdReading: (c, hold) => c.sock.core.holdReading(hold),
  };
  const setup = new SocketPeerSetup(io, codec, app, highWaterMark);

  // READ_LEN receives the rest of a length field here: its views for each length that can be left.
  const headerSpace = new Uint8Array(plain?.size ?? 0);
  const headerViews = Array.from({ length: headerSpace.length + 1 }, (_, n) => headerSpace.subarray(0, n));

  const addClient = (sock: NonBlockingSocket): void => {
    const pfd: PollFd<Sock> = { socket: sock, events: POLLIN, revents: 0 };
    const c: Conn = {
      sock,
      pfd,
      state: readState,
      resumeState: readState,
      headerValue: 0,
      headerRead: 0,
      body: EMPTY,
      bodyRead: 0,
      peer: undefined as unknown as SocketPeer<Conn>,
    };
    c.peer = new SocketPeer(c, sock.remoteAddr, setup);
    pfds.push(pfd);
    conns.set(sock, c);
    app.onOpen?.(c.peer);
  };

  /** WRITE_BODY: send what is left; back to reading once all of it is out. */
  const onWritable = (c: Conn): void => {
    c.peer.flush();
    if (c.peer.finished || c.peer.queuedBytes > 0) return;
    c.state = c.resumeState;
    c.pfd.events = POLLIN;
  };

  /** POLLIN: run the read states until recv would block or output is waiting to go out. */
  const onReadable = (c: Conn): void => {
    const { sock, peer } = c;
    while (!peer.closing && c.state !== "WRITE_BODY") {
      if (c.state === "READ_FRAMES") {
        const n = sock.tryRecv(slab.space);
        if (n === WOULD_BLOCK) return;
        if (n === 0) return peer.receiveEnd();
        peer.receive(slab.take(n));
        continue;
      }
      if (c.state === "READ_LEN") {
        const size = plain!.size;
        const n = sock.tryRecv(headerViews[size - c.headerRead]);
        if (n === WOULD_BLOCK) return;
        if (n === 0) return peer.receiveEnd(); // mid-header, the partial frame is dropped
        c.headerValue = addFieldBytes(c.headerValue, headerViews[n], c.headerRead, plain!.littleEndian);
        c.headerRead += n;
        if (c.headerRead < size) continue;
        const length = c.headerValue;
        if (size + length > plain!.maxFrameLength) {
          return peer.receiveError(new FrameTooLargeError(size + length, plain!.maxFrameLength));
        }
        c.headerRead = 0;
        c.headerValue = 0;
        c.body = new Uint8Array(length);
        c.bodyRead = 0;
        c.state = "READ_BODY";
      }
      // READ_BODY
      if (c.bodyRead < c.body.length) {
        const n = sock.tryRecv(c.body.subarray(c.bodyRead));
        if (n === WOULD_BLOCK) return;
        if (n === 0) return peer.receiveEnd(); // the client closed mid-frame
        c.bodyRead += n;
      }
      if (c.bodyRead === c.body.length) {
        const frame = c.body;
        c.body = EMPTY;
        // Back to READ_LEN before the application runs: a send that would block leaves it
        // in WRITE_BODY, which returns here.
        c.state = "READ_LEN";
        peer.receiveFrame(frame);
      }
    }
  };

  const onClientEvents = (c: Conn, revents: number): void => {
    // Errors and hang-ups first: such a socket stays ready forever and would spin the loop.
    if (revents & (POLLERR | POLLHUP | POLLNVAL)) {
      if (revents & POLLIN && !(revents & POLLNVAL)) onReadable(c); // what came before the end
      if (!c.peer.finished) c.peer.fail(c.sock.core.error);
      return;
    }
    if (revents & POLLIN) onReadable(c);
    if (revents & POLLOUT && c.state === "WRITE_BODY" && !c.peer.finished) {
      onWritable(c);
      // The output is out: the next frame may be waiting already.
      if (c.state !== "WRITE_BODY") onReadable(c);
    }
  };

  const loop = (async () => {
    while (!stopped && (accepting || conns.size > 0)) {
      if (pass.signal.aborted) pass = new AbortController();
      try {
        await poll(pfds, POLL_TIMEOUT_MS, { signal: pass.signal });
      } catch (error) {
        if (pass.signal.aborted) continue;
        throw error;
      }
      handling = true;
      for (let i = 0; i < pfds.length; i++) {
        const p = pfds[i];
        if (p.revents === 0 || p.socket === null) continue;
        if (p === listenFd) {
          // accept until it would block: the drain pattern on the listener.
          if (p.revents & POLLIN && accepting) {
            for (let s = listenSocket.tryAccept(); s !== WOULD_BLOCK; s = listenSocket.tryAccept()) addClient(s);
          }
          continue;
        }
        const c = conns.get(p.socket!);
        if (!c) continue;
        try {
          onClientEvents(c, p.revents);
        } catch (error) {
          if (!c.peer.finished) c.peer.fail(error as Error); // a reset: this client only
        }
      }
      handling = false;
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
      if (!accepting) return;
      accepting = false;
      listenFd.socket = null;
      removed = true;
      pass.abort();
      await listenSocket.close();
      await closePeers(() => [...conns.values()].map((c) => c.peer));
      stopped = true;
      pass.abort();
      await loop;
      await closing.settled();
    },
  };
}
