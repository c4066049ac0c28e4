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

/**
 * What every peer of one host shares, made once per host: its io, codec, application and high
 * water mark. A peer keeps one reference to it rather than a field for each.
 *
 * @example
 * ```ts
 * import { delimited } from "sockmodels/framing";
 * import type { NonBlockingSocket } from "sockmodels/nonblocking";
 * import { SocketPeerSetup, type SocketPeerIo } from "./_socket_peer.ts";
 * declare const io: SocketPeerIo<NonBlockingSocket>;
 * const setup = new SocketPeerSetup(io, delimited(), { onFrame: (p, f) => p.send(f) }, 1024 * 1024);
 * ```
 */
export class SocketPeerSetup<H> {
  /** The host's socket operations. */
  readonly io: SocketPeerIo<H>;
  /** How frames are cut and written. */
  readonly codec: FrameCodec;
  /** The application. */
  readonly app: PeerApp;
  /**
   * Unsent bytes above which a peer holds reading until its queue is empty again (Infinity:
   * never).
   */
  readonly highWaterMark: number;
  /** The codec is raw chunks: a frame is the bytes themselves, with nothing to cut or add. */
  readonly raw: boolean;

  constructor(io: SocketPeerIo<H>, codec: FrameCodec, app: PeerApp, highWaterMark: number) {
    this.io = io;
    this.codec = codec;
    this.app = app;
    this.highWaterMark = highWaterMark;
    this.raw = codec === rawChunks();
  }
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

/** The bits of a peer's `#flags`; each has a private accessor of the same name. */
const CLOSING = 1 << 0;
const FINISHED = 1 << 1;
const PAUSED_BY_APP = 1 << 2;
const HELD_FOR_OUTPUT = 1 << 3;

/**
 * A client of a non-blocking-socket host.
 *
 * @example
 * ```ts
 * import type { FrameCodec } from "sockmodels/framing";
 * import type { NonBlockingSocket } from "sockmodels/nonblocking";
 * import type { PeerApp } from "./types.ts";
 * import { SocketPeer, type SocketPeerIo, SocketPeerSetup } from "./_socket_peer.ts";
 * declare const sock: NonBlockingSocket;
 * declare const codec: FrameCodec;
 * declare const app: PeerApp;
 * declare const io: SocketPeerIo<NonBlockingSocket>;
 * declare const bytes: Uint8Array;
 * const setup = new SocketPeerSetup(io, codec, app, 1024 * 1024); // once per host
 * const peer = new SocketPeer(sock, sock.remoteAddr, setup);
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
  readonly #setup: SocketPeerSetup<H>;
  /**
   * The bytes the socket could not take yet: made when some first wait. It is kept once made:
   * making one for each reply cost 7% of the CPU per message of Bun's blocking lp4 echo.
   */
  #out: ByteQueue | undefined;
  /** Made at the first bytes: a host that cuts frames itself (poll's READ_LEN) needs none. */
  #decoder: FrameDecoder | undefined;
  #flags = 0;
  get #closing(): boolean {
    return (this.#flags & CLOSING) !== 0;
  }
  set #closing(on: boolean) {
    this.#flags = on ? this.#flags | CLOSING : this.#flags & ~CLOSING;
  }
  get #finished(): boolean {
    return (this.#flags & FINISHED) !== 0;
  }
  set #finished(on: boolean) {
    this.#flags = on ? this.#flags | FINISHED : this.#flags & ~FINISHED;
  }
  get #pausedByApp(): boolean {
    return (this.#flags & PAUSED_BY_APP) !== 0;
  }
  set #pausedByApp(on: boolean) {
    this.#flags = on ? this.#flags | PAUSED_BY_APP : this.#flags & ~PAUSED_BY_APP;
  }
  get #heldForOutput(): boolean {
    return (this.#flags & HELD_FOR_OUTPUT) !== 0;
  }
  set #heldForOutput(on: boolean) {
    this.#flags = on ? this.#flags | HELD_FOR_OUTPUT : this.#flags & ~HELD_FOR_OUTPUT;
  }

  constructor(handle: H, remoteAddr: Addr | undefined, setup: SocketPeerSetup<H>) {
    this.handle = handle;
    this.remoteAddr = remoteAddr;
    this.#setup = setup;
  }

  /** True once closing was asked for or the client went away. */
  get closing(): boolean {
    return this.#closing;
  }

  /** True once the peer is off the host's loop. */
  get finished(): boolean {
    return this.#finished;
  }

  /** Bytes queued here that the socket could not take yet. */
  get queuedBytes(): number {
    return this.#out?.bytes ?? 0;
  }

  /** Takes everything queued here, joined (undefined if nothing is), for a host that posts it. */
  takeQueued(): Uint8Array | undefined {
    return this.#out?.takeAll();
  }

  /** Bytes waiting here and in the socket. */
  get unsentBytes(): number {
    return this.queuedBytes + this.#setup.io.socketQueued(this.handle);
  }

  /** Queues one frame and sends what the socket takes now. */
  send(frame: Uint8Array): void {
    if (this.#closing) return;
    const setup = this.#setup;
    if (setup.raw && this.queuedBytes === 0 && !this.#finished) this.#sendNow(frame);
    else {
      writeFrame(this.#out ??= new ByteQueue(), setup.codec, frame);
      this.flush();
    }
    if (!this.#heldForOutput && !this.#finished && this.unsentBytes > setup.highWaterMark) {
      this.#heldForOutput = true;
      setup.io.holdReading(this.handle, true);
    }
  }

  /** Sends what is queued, as far as the socket takes it; a closing peer finishes once empty. */
  flush(): void {
    if (this.#finished) return;
    const out = this.#out;
    if (out !== undefined) {
      let empty: boolean;
      try {
        empty = out.drainWith(trySendOf, this);
      } catch (error) {
        this.fail(error as Error);
        return;
      }
      if (!empty) {
        // What waits may be slices of the host's receive slab: copy them, not keep the slab.
        if (!this.#setup.io.sendsThisTurn?.(this.handle)) out.compact();
        return;
      }
    }
    if (this.#closing) this.#finish(false);
    else if (this.#heldForOutput && this.#setup.io.socketQueued(this.handle) <= this.#setup.highWaterMark) {
      this.#heldForOutput = false;
      if (!this.#pausedByApp) this.#setup.io.holdReading(this.handle, false);
    }
  }

  /** Nothing waits: the bytes go straight to the socket, and only what it does not take is queued. */
  #sendNow(bytes: Uint8Array): void {
    const io = this.#setup.io;
    let sent: number | WouldBlock;
    try {
      sent = io.trySend(this.handle, bytes);
    } catch (error) {
      this.fail(error as Error);
      return;
    }
    const done = typeof sent === "number" ? sent : 0;
    if (done === bytes.byteLength) return;
    const out = this.#out ??= new ByteQueue();
    out.write(done === 0 ? bytes : bytes.subarray(done));
    if (!io.sendsThisTurn?.(this.handle)) out.compact();
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
    if (this.#finished) this.#setup.io.resetSocket(this.handle);
    else this.#finish(true);
  }

  /** Stops reading the client's socket; what was read is still delivered. */
  pause(): void {
    this.#pausedByApp = true;
    this.#setup.io.holdReading(this.handle, true);
  }

  /** Reads the client's socket again. */
  resume(): void {
    this.#pausedByApp = false;
    if (!this.#heldForOutput) this.#setup.io.holdReading(this.handle, false);
  }

  /** The socket failed (a reset, a send or recv error): aborts and reports the error. */
  fail(error?: Error): void {
    this.#closing = true;
    this.#finish(true, error);
  }

  /** Bytes arrived: the frames they complete go to the application, until the peer is closing. */
  receive(bytes: Uint8Array): void {
    const setup = this.#setup;
    if (!setup.raw) deliverBytes(this, this.#decoder ??= setup.codec.decoder(), setup.app, bytes);
    else if (!this.#closing) setup.app.onFrame(this, bytes);
  }

  /** A frame the host cut itself (poll's READ_BODY) goes to the application. */
  receiveFrame(frame: Uint8Array): void {
    if (!this.#closing) this.#setup.app.onFrame(this, frame);
  }

  /** The host found the client's bytes malformed: the application hears why, and the peer closes. */
  receiveError(error: Error): void {
    if (this.#closing) return;
    this.#setup.app.onFrameError?.(this, error);
    this.close();
  }

  /** The client sent FIN: a trailing partial frame is dropped, and the peer closes. */
  receiveEnd(): void {
    deliverEnd(this, this.#decoder);
  }

  static {
    trySendOf = (peer, bytes) => peer.#setup.io.trySend(peer.handle, bytes);
  }

  #finish(abort: boolean, error?: Error): void {
    if (this.#finished) return;
    this.#finished = true;
    if (abort) this.#out = undefined;
    this.#setup.io.finish(this, abort);
    this.#setup.app.onClose?.(this, error);
  }
}
