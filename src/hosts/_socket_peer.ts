/**
 * The peer of the hosts built on sockets of the models (every host but the engine's and the
 * bare adapter's): its decoder, its queue of unsent bytes, its read hold, and its closing
 * rules. The host's loop tells it when bytes arrived and when the socket is writable; the
 * peer runs the application.
 *
 * @module
 */

import { ByteQueue } from "../_internal/byte_queue.ts";
import type { FrameCodec, FrameDecoder } from "../framing/types.ts";
import { endDecoder } from "../framing/end_decoder.ts";
import { rawChunks } from "../framing/raw.ts";
import { writeFrame } from "../framing/write_frame.ts";
import type { WouldBlock } from "../models/nonblocking.ts";
import type { Addr } from "../runtime/types.ts";
import type { Peer, PeerApp } from "./types.ts";

/**
 * The default of `PeerHostOptions.highWaterMark`: a client with more than this waiting to be
 * sent to it is not read until its queue has drained.
 */
export const DEFAULT_HIGH_WATER_MARK: number = 1024 * 1024;

/**
 * What a {@linkcode SocketPeer} needs from its host's socket. A host has one for all its
 * peers: each call gets the peer's `handle` (its socket, or the host's record of the client).
 *
 * @example
 * ```ts
 * import type { NonBlockingSocket } from "sockmodels/nonblocking";
 * const io: SocketPeerIo<NonBlockingSocket> = {
 *   trySend: (sock, bytes) => sock.trySend(bytes),
 *   socketQueued: (sock) => sock.core.sendQueued,
 *   finish: (peer, abort) => (abort ? peer.handle.reset() : void peer.handle.close()),
 *   resetSocket: (sock) => sock.reset(),
 *   holdReading: (sock, hold) => sock.core.holdReading(hold),
 * };
 * ```
 */
export interface SocketPeerIo<H> {
  /** A non-blocking send: a count (possibly partial), or WOULD_BLOCK. Throws on a dead socket. */
  trySend(handle: H, bytes: Uint8Array): number | WouldBlock;
  /** Bytes the socket itself holds, not yet taken by the OS. */
  socketQueued(handle: H): number;
  /** Takes the peer off the host's loop and closes its socket: gracefully, or at once. */
  finish(peer: SocketPeer<H>, abort: boolean): void;
  /** Aborts the socket of a peer that finished gracefully but is still sending. */
  resetSocket(handle: H): void;
  /** Holds reading from the socket (true), or lets it go on (false). */
  holdReading(handle: H, hold: boolean): void;
  /**
   * Whether what the socket did not take now is handed to it before this turn ends (IOCP posts
   * it once the completion has been handled). Queued slices of the receive slab are then not
   * copied: the queue lets go of them within the turn.
   */
  sendsThisTurn?(handle: H): boolean;
}

let lastPeerId = 0;

/** Sends through a peer's io (set in SocketPeer, which owns the io). */
let trySendOf: <H>(peer: SocketPeer<H>, bytes: Uint8Array) => number | WouldBlock;

/**
 * Pushes bytes a client sent through its decoder and hands the frames they complete to the
 * application, until the peer is closing. Bytes the codec rejects go to `app.onFrameError`
 * (after the frames before them), and the peer closes.
 */
export function deliverBytes(peer: Peer, decoder: FrameDecoder, app: PeerApp, bytes: Uint8Array): void {
  if (peer.closing) return;
  let frames: Uint8Array[];
  try {
    frames = decoder.push(bytes);
  } catch (error) {
    for (const frame of (error as { frames?: Uint8Array[] }).frames ?? []) app.onFrame(peer, frame);
    if (!peer.closing) app.onFrameError?.(peer, error as Error);
    peer.close();
    return;
  }
  for (let i = 0; i < frames.length && !peer.closing; i++) app.onFrame(peer, frames[i]);
}

/** The client sent FIN: a trailing partial frame is dropped, and the peer closes. */
export function deliverEnd(peer: Peer, decoder: FrameDecoder | undefined): void {
  // A truncated last frame cannot be answered.
  if (!peer.closing && decoder !== undefined) endDecoder(decoder);
  peer.close();
}

/**
 * A client of a non-blocking-socket host.
 *
 * @example
 * ```ts
 * import type { FrameCodec } from "sockmodels/framing";
 * import type { NonBlockingSocket } from "sockmodels/nonblocking";
 * import type { PeerApp } from "./types.ts";
 * import { SocketPeer, type SocketPeerIo } from "./_socket_peer.ts";
 * declare const sock: NonBlockingSocket;
 * declare const codec: FrameCodec;
 * declare const app: PeerApp;
 * declare const io: SocketPeerIo<NonBlockingSocket>;
 * declare const bytes: Uint8Array;
 * const peer = new SocketPeer(sock, sock.remoteAddr, codec, app, io, 1024 * 1024);
 * app.onOpen?.(peer);
 * peer.receive(bytes); // on FD_READ: frames go to app.onFrame
 * peer.flush(); // on FD_WRITE
 * ```
 */
export class SocketPeer<H = unknown> implements Peer {
  /** What the host's {@linkcode SocketPeerIo} is given for this peer. */
  readonly handle: H;
  /** A process-unique id. */
  readonly id: number = ++lastPeerId;
  /** The client's address (set by the host once it knows it). */
  remoteAddr: Addr | undefined;
  /** The application's state. */
  data: unknown = undefined;
  /** The bytes the socket could not take yet. */
  readonly out: ByteQueue = new ByteQueue();
  readonly #codec: FrameCodec;
  /** Made at the first bytes: a host that cuts frames itself (poll's READ_LEN) needs none. */
  #decoder: FrameDecoder | undefined;
  readonly #app: PeerApp;
  readonly #io: SocketPeerIo<H>;
  readonly #highWaterMark: number;
  /** The codec is raw chunks: a frame is the bytes themselves, with nothing to cut or add. */
  readonly #raw: boolean;
  #closing = false;
  #finished = false;
  #pausedByApp = false;
  #heldForOutput = false;

  /**
   * @param highWaterMark Unsent bytes above which the peer holds reading until its queue is
   * empty again (Infinity: never).
   */
  constructor(
    handle: H,
    remoteAddr: Addr | undefined,
    codec: FrameCodec,
    app: PeerApp,
    io: SocketPeerIo<H>,
    highWaterMark: number,
  ) {
    this.handle = handle;
    this.remoteAddr = remoteAddr;
    this.#codec = codec;
    this.#app = app;
    this.#io = io;
    this.#highWaterMark = highWaterMark;
    this.#raw = codec === rawChunks();
  }

  /** True once closing was asked for or the client went away. */
  get closing(): boolean {
    return this.#closing;
  }

  /** True once the peer is off the host's loop. */
  get finished(): boolean {
    return this.#finished;
  }

  /** Bytes waiting here and in the socket. */
  get unsentBytes(): number {
    return this.out.bytes + this.#io.socketQueued(this.handle);
  }

  /** Queues one frame and sends what the socket takes now. */
  send(frame: Uint8Array): void {
    if (this.#closing) return;
    if (this.#raw && this.out.bytes === 0 && !this.#finished) this.#sendNow(frame);
    else {
      writeFrame(this.out, this.#codec, frame);
      this.flush();
    }
    if (!this.#heldForOutput && !this.#finished && this.unsentBytes > this.#highWaterMark) {
      this.#heldForOutput = true;
      this.#io.holdReading(this.handle, true);
    }
  }

  /** Sends what is queued, as far as the socket takes it; a closing peer finishes once empty. */
  flush(): void {
    if (this.#finished) return;
    let empty: boolean;
    try {
      empty = this.out.drainWith(trySendOf, this);
    } catch (error) {
      this.fail(error as Error);
      return;
    }
    if (!empty) {
      // What waits may be slices of the host's receive slab: copy them, not keep the slab.
      if (!this.#io.sendsThisTurn?.(this.handle)) this.out.compact();
      return;
    }
    if (this.#closing) this.#finish(false);
    else if (this.#heldForOutput && this.#io.socketQueued(this.handle) <= this.#highWaterMark) {
      this.#heldForOutput = false;
      if (!this.#pausedByApp) this.#io.holdReading(this.handle, false);
    }
  }

  /** Nothing waits: the bytes go straight to the socket, and only what it does not take is queued. */
  #sendNow(bytes: Uint8Array): void {
    let sent: number | WouldBlock;
    try {
      sent = this.#io.trySend(this.handle, bytes);
    } catch (error) {
      this.fail(error as Error);
      return;
    }
    const done = typeof sent === "number" ? sent : 0;
    if (done === bytes.byteLength) return;
    this.out.write(done === 0 ? bytes : bytes.subarray(done));
    if (!this.#io.sendsThisTurn?.(this.handle)) this.out.compact();
  }

  /** Stops reading; closes once what is queued has gone out. */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.flush();
  }

  /** Aborts at once, also a socket that is still sending after a graceful close. */
  reset(): void {
    this.#closing = true;
    if (this.#finished) this.#io.resetSocket(this.handle);
    else this.#finish(true);
  }

  /** Stops reading the client's socket; what was read is still delivered. */
  pause(): void {
    this.#pausedByApp = true;
    this.#io.holdReading(this.handle, true);
  }

  /** Reads the client's socket again. */
  resume(): void {
    this.#pausedByApp = false;
    if (!this.#heldForOutput) this.#io.holdReading(this.handle, false);
  }

  /** The socket failed (a reset, a send or recv error): aborts and reports the error. */
  fail(error?: Error): void {
    this.#closing = true;
    this.#finish(true, error);
  }

  /** Bytes arrived: the frames they complete go to the application, until the peer is closing. */
  receive(bytes: Uint8Array): void {
    if (!this.#raw) deliverBytes(this, this.#decoder ??= this.#codec.decoder(), this.#app, bytes);
    else if (!this.#closing) this.#app.onFrame(this, bytes);
  }

  /** A frame the host cut itself (poll's READ_BODY) goes to the application. */
  receiveFrame(frame: Uint8Array): void {
    if (!this.#closing) this.#app.onFrame(this, frame);
  }

  /** The host found the client's bytes malformed: the application hears why, and the peer closes. */
  receiveError(error: Error): void {
    if (this.#closing) return;
    this.#app.onFrameError?.(this, error);
    this.close();
  }

  /** The client sent FIN: a trailing partial frame is dropped, and the peer closes. */
  receiveEnd(): void {
    deliverEnd(this, this.#decoder);
  }

  static {
    trySendOf = (peer, bytes) => peer.#io.trySend(peer.handle, bytes);
  }

  #finish(abort: boolean, error?: Error): void {
    if (this.#finished) return;
    this.#finished = true;
    if (abort) this.out.clear();
    this.#io.finish(this, abort);
    this.#app.onClose?.(this, error);
  }
}
