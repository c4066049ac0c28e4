/**
 * The part of a {@linkcode Stream} that is the same on every runtime: the FIFO send queue with
 * its water marks, coalescing of small writes, flush, the half-close and close state machine,
 * pausing, and the exactly-once `onClose`. Each transport extends it with a few primitives.
 *
 * @module
 */

import { ByteQueue } from "../_internal/byte_queue.ts";
import { NetError, toNetError } from "./errors.ts";
import { checkTlsClientOptions, checkTlsServerOptions } from "./_tls.ts";
import type {
  Addr,
  Stream,
  StreamHandlers,
  StreamOptions,
  TlsClientOptions,
  TlsInfo,
  TlsServerOptions,
} from "./types.ts";

/** The default high water mark of the send queue, in bytes. */
export const DEFAULT_HIGH_WATER_MARK = 64 * 1024;
/**
 * How long `close()` waits for the peer's FIN after sending its own, in milliseconds. If the
 * peer is still sending when the wait ends, the close is reported as ECONNABORTED: bytes that
 * arrive at a closed socket make its kernel reset the connection and drop what it had not sent.
 */
export const DEFAULT_LINGER_MS = 2000;

/** Writes smaller than this are copied together into one OS write. */
const COALESCE_LIMIT = 16 * 1024;
/** The largest buffer built by coalescing. */
const COALESCE_MAX = 64 * 1024;

let lastStreamId = 0;

/**
 * Gives out process-unique connection ids.
 *
 * @example
 * ```ts
 * const id = nextStreamId();
 * ```
 */
export function nextStreamId(): number {
  return ++lastStreamId;
}

interface Waiter {
  resolve(): void;
  reject(error: NetError): void;
}

/**
 * Which end of a TLS handshake a stream plays: the one that connected, or the one that accepted.
 *
 * @example
 * ```ts
 * const role: TlsRole = "client";
 * ```
 */
export type TlsRole = "client" | "server";

/** A `startTls` under way: the writes it holds back, and how to end its wait. */
interface Upgrade {
  held: Uint8Array[];
  heldBytes: number;
  plaintextSent?: () => void;
  abort?: (error: NetError) => void;
}

// The sending side's states.
const WRITE_OPEN = 0;
const WRITE_ENDING = 1;
const WRITE_FIN_SENT = 2;

/**
 * The bits of a stream's `#flags`: its yes-or-no state in one number, so that each connection
 * pays for one field rather than fifteen. Each has a private accessor of the same name.
 */
const PUMP_SCHEDULED = 1 << 0;
/** Whether `onData` is running: its writes are pumped when it returns, not in a microtask. */
const DELIVERING = 1 << 1;
/** A write made during `onData` is waiting for it to return. */
const PUMP_WHEN_DELIVERED = 1 << 2;
const NEED_DRAIN = 1 << 3;
const PEER_ENDED = 1 << 4;
const CLOSING = 1 << 5;
const RELEASING = 1 << 6;
const CLOSED = 1 << 7;
const STARTED = 1 << 8;
const PAUSED = 1 << 9;
const HELD_END = 1 << 10;
const LOCAL_ABORT = 1 << 11;
const CLOSE_DELIVERED = 1 << 12;
const WROTE_BYTES = 1 << 13;
const DATA_AFTER_FIN = 1 << 14;
const ACCEPTED = 1 << 15;

/**
 * The handlers of a stream that has none yet, or no longer: one shared object, so that a
 * connection carries no empty object of its own.
 *
 * @example
 * ```ts
 * import { NO_HANDLERS } from "./stream_base.ts";
 * NO_HANDLERS.onData?.(new Uint8Array(1)); // does nothing
 * ```
 */
export const NO_HANDLERS: StreamHandlers = Object.freeze({});

/** What a stream takes from its options: one object shared by the streams that have the same. */
interface StreamSettings {
  readonly highWaterMark: number;
  readonly lowWaterMark: number;
  readonly allowHalfOpen: boolean;
  readonly lingerMs: number;
}

let lastSettings: StreamSettings = { highWaterMark: -1, lowWaterMark: -1, allowHalfOpen: false, lingerMs: -1 };

function streamSettings(
  highWaterMark: number,
  lowWaterMark: number,
  allowHalfOpen: boolean,
  lingerMs: number,
): StreamSettings {
  const last = lastSettings;
  if (
    last.highWaterMark !== highWaterMark || last.lowWaterMark !== lowWaterMark ||
    last.allowHalfOpen !== allowHalfOpen || last.lingerMs !== lingerMs
  ) {
    lastSettings = Object.freeze({ highWaterMark, lowWaterMark, allowHalfOpen, lingerMs });
  }
  return lastSettings;
}

/**
 * The shared stream machinery. Transports implement the protected primitives:
 * `_pump` (hand queued bytes to the OS), `_startReading`, `_stopReading`, `_shutdownWrite`
 * (send FIN once everything queued was taken), and `_release` (free the socket, then call
 * `_transportClosed` exactly once, now or later).
 *
 * @example A stream over a socket API with `send`, `pause`, `resume`, `shutdown` and `close`
 * (src/runtime/node.ts is a complete one):
 * ```ts
 * import { StreamBase } from "./stream_base.ts";
 * import type { Addr } from "./types.ts";
 * interface RawSocket {
 *   send(bytes: Uint8Array): void;
 *   pause(): void;
 *   resume(): void;
 *   shutdown(): void;
 *   close(abort: boolean): void;
 * }
 * class RawStream extends StreamBase {
 *   constructor(readonly socket: RawSocket, readonly localAddr: Addr, readonly remoteAddr: Addr) {
 *     super();
 *   }
 *   protected _pump(): void {
 *     for (let chunk = this._takeChunk(); chunk; chunk = this._takeChunk()) this.socket.send(chunk);
 *   }
 *   protected _startReading(): void {
 *     this.socket.resume(); // the socket's data goes to this._deliver(chunk)
 *   }
 *   protected _stopReading(): void {
 *     this.socket.pause();
 *   }
 *   protected _shutdownWrite(): void {
 *     this.socket.shutdown();
 *   }
 *   protected _release(abort: boolean): void {
 *     this.socket.close(abort);
 *     this._transportClosed();
 *   }
 *   setNoDelay(): void {}
 *   setKeepAlive(): void {}
 * }
 * ```
 */
export abstract class StreamBase implements Stream {
  /** A process-unique connection id. */
  readonly id: number = nextStreamId();
  /** The local address. */
  abstract readonly localAddr: Addr;
  /** The peer's address. */
  abstract readonly remoteAddr: Addr;

  /** The current callbacks. */
  protected handlers: StreamHandlers = NO_HANDLERS;
  /** The options, shared by the streams that have the same, as a listener's streams do. */
  readonly #settings: StreamSettings;

  readonly #queue = new ByteQueue();
  #flushWaiters: Waiter[] | undefined;
  #closeWaiters: (() => void)[] | undefined;
  #writeState: number = WRITE_OPEN;
  #heldWhilePaused: Uint8Array[] | undefined;
  #error: NetError | undefined;
  #lingerTimer: ReturnType<typeof setTimeout> | undefined;
  #closeError: NetError | undefined;
  #upgrade: Upgrade | undefined;
  #flags = 0;
  get #pumpScheduled(): boolean {
    return (this.#flags & PUMP_SCHEDULED) !== 0;
  }
  set #pumpScheduled(on: boolean) {
    this.#flags = on ? this.#flags | PUMP_SCHEDULED : this.#flags & ~PUMP_SCHEDULED;
  }
  get #delivering(): boolean {
    return (this.#flags & DELIVERING) !== 0;
  }
  set #delivering(on: boolean) {
    this.#flags = on ? this.#flags | DELIVERING : this.#flags & ~DELIVERING;
  }
  get #pumpWhenDelivered(): boolean {
    return (this.#flags & PUMP_WHEN_DELIVERED) !== 0;
  }
  set #pumpWhenDelivered(on: boolean) {
    this.#flags = on ? this.#flags | PUMP_WHEN_DELIVERED : this.#flags & ~PUMP_WHEN_DELIVERED;
  }
  get #needDrain(): boolean {
    return (this.#flags & NEED_DRAIN) !== 0;
  }
  set #needDrain(on: boolean) {
    this.#flags = on ? this.#flags | NEED_DRAIN : this.#flags & ~NEED_DRAIN;
  }
  get #peerEnded(): boolean {
    return (this.#flags & PEER_ENDED) !== 0;
  }
  set #peerEnded(on: boolean) {
    this.#flags = on ? this.#flags | PEER_ENDED : this.#flags & ~PEER_ENDED;
  }
  get #closing(): boolean {
    return (this.#flags & CLOSING) !== 0;
  }
  set #closing(on: boolean) {
    this.#flags = on ? this.#flags | CLOSING : this.#flags & ~CLOSING;
  }
  get #releasing(): boolean {
    return (this.#flags & RELEASING) !== 0;
  }
  set #releasing(on: boolean) {
    this.#flags = on ? this.#flags | RELEASING : this.#flags & ~RELEASING;
  }
  get #closed(): boolean {
    return (this.#flags & CLOSED) !== 0;
  }
  set #closed(on: boolean) {
    this.#flags = on ? this.#flags | CLOSED : this.#flags & ~CLOSED;
  }
  get #started(): boolean {
    return (this.#flags & STARTED) !== 0;
  }
  set #started(on: boolean) {
    this.#flags = on ? this.#flags | STARTED : this.#flags & ~STARTED;
  }
  get #paused(): boolean {
    return (this.#flags & PAUSED) !== 0;
  }
  set #paused(on: boolean) {
    this.#flags = on ? this.#flags | PAUSED : this.#flags & ~PAUSED;
  }
  get #heldEnd(): boolean {
    return (this.#flags & HELD_END) !== 0;
  }
  set #heldEnd(on: boolean) {
    this.#flags = on ? this.#flags | HELD_END : this.#flags & ~HELD_END;
  }
  get #localAbort(): boolean {
    return (this.#flags & LOCAL_ABORT) !== 0;
  }
  set #localAbort(on: boolean) {
    this.#flags = on ? this.#flags | LOCAL_ABORT : this.#flags & ~LOCAL_ABORT;
  }
  get #closeDelivered(): boolean {
    return (this.#flags & CLOSE_DELIVERED) !== 0;
  }
  set #closeDelivered(on: boolean) {
    this.#flags = on ? this.#flags | CLOSE_DELIVERED : this.#flags & ~CLOSE_DELIVERED;
  }
  get #wroteBytes(): boolean {
    return (this.#flags & WROTE_BYTES) !== 0;
  }
  set #wroteBytes(on: boolean) {
    this.#flags = on ? this.#flags | WROTE_BYTES : this.#flags & ~WROTE_BYTES;
  }
  get #dataAfterFin(): boolean {
    return (this.#flags & DATA_AFTER_FIN) !== 0;
  }
  set #dataAfterFin(on: boolean) {
    this.#flags = on ? this.#flags | DATA_AFTER_FIN : this.#flags & ~DATA_AFTER_FIN;
  }
  /** Whether this stream was accepted by a listener (the server's end). */
  protected get _accepted(): boolean {
    return (this.#flags & ACCEPTED) !== 0;
  }
  protected set _accepted(on: boolean) {
    this.#flags = on ? this.#flags | ACCEPTED : this.#flags & ~ACCEPTED;
  }

  /** Sets the water marks and the half-open policy. */
  constructor(options: StreamOptions = {}, lingerMs: number = DEFAULT_LINGER_MS) {
    const high = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    if (!Number.isInteger(high) || high < 0) {
      throw new RangeError(`High water mark must be a non-negative integer, got ${high}`);
    }
    const low = options.lowWaterMark ?? Math.floor(high / 4);
    if (!Number.isInteger(low) || low < 0 || low > high) {
      throw new RangeError(
        `Low water mark must be an integer from 0 to the high water mark ${high}, got ${low}`,
      );
    }
    this.#settings = streamSettings(high, low, options.allowHalfOpen ?? false, lingerMs);
  }

  /** The high water mark of the send queue. */
  protected get highWaterMark(): number {
    return this.#settings.highWaterMark;
  }

  /** `onDrain` fires when the queue falls to this. */
  protected get lowWaterMark(): number {
    return this.#settings.lowWaterMark;
  }

  /** Whether the sending side stays open after the peer's FIN. */
  protected get allowHalfOpen(): boolean {
    return this.#settings.allowHalfOpen;
  }

  // ---- primitives for transports -------------------------------------------------------

  /** Hands queued bytes to the OS using `_takeChunk` and `_unshiftChunk`, then `_progress`. */
  protected abstract _pump(): void;
  /** Starts (or restarts after a pause) reading from the OS. */
  protected abstract _startReading(): void;
  /** Stops reading from the OS. */
  protected abstract _stopReading(): void;
  /** Sends FIN. Called once, when nothing is queued or in flight. */
  protected abstract _shutdownWrite(): void;
  /** Frees the socket (aborting it when `abort` is true) and leads to one `_transportClosed`. */
  protected abstract _release(abort: boolean): void;
  /**
   * Whether `_release(false)` sends the FIN itself, as closing a plain TCP socket does once
   * its peer has ended: the stream then skips `_shutdownWrite` when it releases at once. A
   * TLS stream must send its close_notify first, so it answers false.
   */
  protected get _releaseSendsFin(): boolean {
    return false;
  }
  /** Bytes handed to the OS layer and not yet confirmed written. */
  protected _osBufferedAmount(): number {
    return 0;
  }
  /** What the TLS handshake settled; transports with TLS override it. */
  get tls(): TlsInfo | undefined {
    return undefined;
  }
  /** Turns Nagle off or on. */
  abstract setNoDelay(noDelay?: boolean): void;
  /** Turns keepalive on or off. */
  abstract setKeepAlive(enable: boolean, initialDelayMs?: number): void;

  /** Takes the next bytes to write: one chunk, or several small ones copied together. */
  protected _takeChunk(): Uint8Array | undefined {
    return this.#queue.shiftJoined(COALESCE_LIMIT, COALESCE_MAX);
  }

  /** Puts back the part of a chunk the OS did not take, at the front of the queue. */
  protected _unshiftChunk(rest: Uint8Array): void {
    this.#queue.unshift(rest);
  }

  /** Bytes queued in this stream and not yet handed to the OS layer. */
  protected get _queuedBytes(): number {
    return this.#queue.bytes;
  }

  /** Whether `_release` was called. */
  protected get _releasing(): boolean {
    return this.#releasing;
  }

  /** Whether anyone waits for `_progress`: a drain, a flush or a pending FIN. */
  protected get _wantsProgress(): boolean {
    return this.#needDrain || this.#flushWaiters !== undefined || this.#writeState === WRITE_ENDING ||
      this.#upgrade?.plaintextSent !== undefined;
  }

  /**
   * Asks a transport that reports progress only on request to report once more when the
   * bytes it holds are written. The default does nothing: the transport always reports.
   */
  protected _requestProgress(): void {}

  /** Call after the OS took bytes: resolves flushes, fires `onDrain`, sends a pending FIN. */
  protected _progress(): void {
    if (this.#closed) return;
    const upgrade = this.#upgrade;
    if (upgrade?.plaintextSent && this.#queue.bytes + this._osBufferedAmount() === 0) {
      const sent = upgrade.plaintextSent;
      upgrade.plaintextSent = undefined;
      sent();
    }
    const buffered = this.bufferedAmount;
    if (buffered === 0 && upgrade === undefined) {
      const waiters = this.#flushWaiters;
      if (waiters) {
        this.#flushWaiters = undefined;
        for (const w of waiters) w.resolve();
      }
      if (this.#writeState === WRITE_ENDING) this.#sendFin();
    }
    if (this.#needDrain && buffered <= this.lowWaterMark) {
      this.#needDrain = false;
      try {
        this.handlers.onDrain?.();
      } catch (error) {
        this.#handlerFailed("onDrain", error);
      }
    }
  }

  /** Delivers received bytes, holding them while paused. */
  protected _deliver(chunk: Uint8Array): void {
    if (this.#closed) return;
    if (this.#upgrade) {
      this._fail(
        new NetError(
          "TLS_PROTOCOL",
          `${chunk.byteLength} bytes of plaintext arrived after startTls() and before the handshake`,
          { syscall: "starttls" },
        ),
      );
      return;
    }
    if (this.#writeState === WRITE_FIN_SENT) this.#dataAfterFin = true;
    if (this.#paused) {
      (this.#heldWhilePaused ??= []).push(chunk);
      return;
    }
    this.#dispatchData(chunk);
  }

  /**
   * Delivers received bytes that lie in a buffer the adapter fills again once this returns.
   * They are lent as they are when the handlers take loaned chunks and get them now; otherwise
   * they are copied. Returns true when they were lent.
   */
  protected _deliverLoaned(bytes: Uint8Array): boolean {
    if (this.handlers.loanedChunks !== true || this.#paused || this.#closed || this.#upgrade) {
      this._deliver(bytes.slice());
      return false;
    }
    this._deliver(bytes);
    return true;
  }

  #dispatchData(chunk: Uint8Array): void {
    // The replies a handler writes while it handles a chunk are one batch already; they go to
    // the OS as soon as it returns, which saves the microtask that other writes wait for.
    const outer = this.#delivering;
    this.#delivering = true;
    try {
      this.handlers.onData?.(chunk);
    } catch (error) {
      this.#handlerFailed("onData", error);
    }
    this.#delivering = outer;
    if (!outer && this.#pumpWhenDelivered) {
      this.#pumpWhenDelivered = false;
      this.#runPump();
    }
  }

  /**
   * A handler threw. That ends this stream only, the same way on every runtime (left alone,
   * Node would crash the process, Bun would reset the socket and Deno would close it): the
   * socket is aborted, and `onClose` gets an ECONNABORTED NetError whose cause is the error.
   */
  #handlerFailed(handler: string, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this._fail(new NetError("ECONNABORTED", `The stream's ${handler} handler threw: ${message}`, { cause: error }));
  }

  /** Call when the peer's FIN arrives. */
  protected _peerEnd(): void {
    if (this.#peerEnded || this.#closed) return;
    if (this.#paused) {
      this.#heldEnd = true;
      return;
    }
    this.#peerEnded = true;
    try {
      this.handlers.onEnd?.();
    } catch (error) {
      this.#handlerFailed("onEnd", error);
      return;
    }
    if (!this.allowHalfOpen || this.#closing) this.end();
    this.#maybeRelease();
  }

  /** Records a fatal error and releases the socket. */
  protected _fail(error: NetError): void {
    if (this.#closed) return;
    this.#error ??= error;
    if (!this.#releasing) {
      this.#releasing = true;
      this._release(true);
    }
  }

  /** Call exactly when the runtime reports the socket closed. */
  protected _transportClosed(error?: NetError): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#releasing = true;
    if (this.#lingerTimer !== undefined) {
      clearTimeout(this.#lingerTimer);
      this.#lingerTimer = undefined;
    }
    let err = this.#error ?? error;
    const upgrade = this.#upgrade;
    this.#upgrade = undefined;
    const unsent = this.#queue.bytes + this._osBufferedAmount() + (upgrade?.heldBytes ?? 0);
    if (err === undefined && unsent > 0 && !this.#localAbort) {
      err = new NetError(
        "ECONNABORTED",
        `The connection closed with ${unsent} bytes still queued for sending`,
        { unsentBytes: unsent },
      );
    } else if (err !== undefined && unsent > 0 && err.unsentBytes !== unsent) {
      err = new NetError(err.code, `${err.message} (${unsent} queued bytes were not sent)`, {
        cause: err.cause ?? err,
        syscall: err.syscall,
        address: err.address,
        port: err.port,
        unsentBytes: unsent,
      });
    }
    this.#queue.clear();
    this.#heldWhilePaused = undefined;
    upgrade?.abort?.(
      err ?? new NetError("ECONNRESET", "The stream closed during its TLS upgrade", { syscall: "starttls" }),
    );
    const flushWaiters = this.#flushWaiters;
    this.#flushWaiters = undefined;
    if (flushWaiters) {
      const reason = err ?? new NetError("ECONNABORTED", "The stream closed before the flush completed");
      for (const w of flushWaiters) {
        if (unsent === 0 && err === undefined) w.resolve();
        else w.reject(reason);
      }
    }
    const handlers = this.handlers;
    this.handlers = NO_HANDLERS;
    this.#closeError = err;
    this.#closeDelivered = handlers.onClose !== undefined;
    try {
      handlers.onClose?.(err);
    } finally {
      const closeWaiters = this.#closeWaiters;
      this.#closeWaiters = undefined;
      if (closeWaiters) { for (const resolve of closeWaiters) resolve(); }
    }
  }

  // ---- the public Stream API ------------------------------------------------------------

  /** Bytes accepted by `write` that the OS has not taken yet. */
  get bufferedAmount(): number {
    return this.#queue.bytes + this._osBufferedAmount() + (this.#upgrade?.heldBytes ?? 0);
  }

  /** True once `onClose` has fired. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Sets the callbacks; reading starts with the first call. */
  setHandlers(handlers: StreamHandlers): void {
    if (this.#closed) {
      // The stream closed before anyone listened (a connection reset right after accept):
      // the first onClose handler set still hears about it, once.
      if (!this.#closeDelivered && handlers.onClose) {
        this.#closeDelivered = true;
        const err = this.#closeError;
        queueMicrotask(() => handlers.onClose?.(err));
      }
      return;
    }
    this.handlers = handlers;
    if (!this.#started && !this.#closed) {
      this.#started = true;
      if (!this.#paused && !this.#upgrade) this._startReading();
    }
  }

  /** Queues bytes; false once the queue passes the high water mark. */
  write(bytes: Uint8Array): boolean {
    if (this.#writeState !== WRITE_OPEN || this.#closed || this.#releasing) {
      throw new NetError(
        "EPIPE",
        `Cannot write ${bytes.byteLength} bytes: the stream ${
          this.#closed || this.#releasing ? "is closed" : "was ended"
        }`,
        { syscall: "write" },
      );
    }
    const size = bytes.byteLength;
    const upgrade = this.#upgrade;
    if (upgrade && size > 0) {
      this.#wroteBytes = true;
      upgrade.held.push(bytes);
      upgrade.heldBytes += size;
    } else if (size > 0) {
      this.#wroteBytes = true;
      this.#queue.write(bytes);
      if (!this.#pumpScheduled) {
        this.#pumpScheduled = true;
        if (this.#delivering) this.#pumpWhenDelivered = true;
        else StreamBase.#schedulePump(this);
      }
    }
    if (this.bufferedAmount > this.highWaterMark) {
      if (!this.#needDrain) {
        this.#needDrain = true;
        if (!this.#pumpScheduled) this._requestProgress();
      }
      return false;
    }
    return true;
  }

  #runPump(): void {
    this.#pumpScheduled = false;
    if (this.#closed || this.#releasing) return;
    this._pump();
  }

  /** Streams whose pump runs in the next microtask, in the order they asked. */
  static #pumpsDue: StreamBase[] = [];

  /** Pumps `stream` in a microtask shared by every stream, so that no stream keeps a closure. */
  static #schedulePump(stream: StreamBase): void {
    const due = StreamBase.#pumpsDue;
    due.push(stream);
    if (due.length === 1) queueMicrotask(StreamBase.#runDuePumps);
  }

  static #runDuePumps = (): void => {
    const due = StreamBase.#pumpsDue;
    StreamBase.#pumpsDue = [];
    for (const stream of due) {
      try {
        stream.#runPump();
      } catch (error) {
        // A transport's pump reports its own failures; one that throws ends its stream only.
        stream._fail(toNetError(error, { syscall: "write" }));
      }
    }
  };

  /** Resolves when every queued byte was handed to the OS. */
  flush(): Promise<void> {
    if (this.#closed) {
      return Promise.reject(
        this.#error ?? new NetError("ENOTCONN", "Cannot flush: the stream is closed"),
      );
    }
    if (this.bufferedAmount === 0) return Promise.resolve();
    const done = new Promise<void>((resolve, reject) => {
      (this.#flushWaiters ??= []).push({ resolve, reject });
    });
    if (!this.#pumpScheduled) this._requestProgress();
    return done;
  }

  /** Stops reading from the OS. */
  pause(): void {
    if (this.#paused || this.#closed) return;
    this.#paused = true;
    if (this.#started) this._stopReading();
  }

  /** Resumes reading; bytes held during the pause are delivered first. */
  resume(): void {
    if (!this.#paused || this.#closed) return;
    this.#paused = false;
    const held = this.#heldWhilePaused;
    this.#heldWhilePaused = undefined;
    if (held) {
      for (const chunk of held) {
        if (this.#paused || this.#closed) {
          // The handler paused again: keep the rest, in order.
          const rest = held.slice(held.indexOf(chunk));
          this.#heldWhilePaused = rest.concat(this.#heldWhilePaused ?? []);
          return;
        }
        this.#dispatchData(chunk);
      }
    }
    if (this.#heldEnd) {
      this.#heldEnd = false;
      this._peerEnd();
    }
    if (this.#started && !this.#paused && !this.#closed && !this.#peerEnded && !this.#upgrade) {
      this._startReading();
    }
  }

  /** Flushes, then sends FIN. */
  end(): void {
    if (this.#writeState !== WRITE_OPEN || this.#closed) return;
    this.#writeState = WRITE_ENDING;
    if (this.#upgrade) return; // The FIN follows the upgrade and what it held back.
    if (this.bufferedAmount === 0) {
      this.#sendFin();
    } else if (!this.#pumpScheduled) {
      if (this.#queue.bytes > 0) {
        this.#pumpScheduled = true;
        StreamBase.#schedulePump(this);
      } else {
        this._requestProgress();
      }
    }
  }

  #sendFin(): void {
    this.#writeState = WRITE_FIN_SENT;
    // After the peer's FIN the socket is released right away; a shutdown first is one more
    // call per connection for the same bytes on the wire.
    if (!this.#releasing && !(this.#peerEnded && this._releaseSendsFin)) this._shutdownWrite();
    this.#maybeRelease();
  }

  #maybeRelease(): void {
    if (this.#releasing || this.#closed || this.#writeState !== WRITE_FIN_SENT) return;
    if (this.#peerEnded) {
      this.#releasing = true;
      this._release(false);
    } else if (this.#closing && this.#lingerTimer === undefined) {
      this.#lingerTimer = setTimeout(() => {
        this.#lingerTimer = undefined;
        if (this.#releasing || this.#closed) return;
        // The peer neither closed nor stopped sending. Its next bytes reach a closed socket,
        // whose kernel then answers with an RST and discards whatever it has not sent yet,
        // so delivery of what was written can no longer be promised: report it.
        if (this.#wroteBytes && this.#dataAfterFin) {
          this.#error ??= new NetError(
            "ECONNABORTED",
            `The peer kept sending for ${this.#settings.lingerMs} ms after close() without closing; ` +
              "the connection was closed, and bytes already sent may not have been delivered",
            { syscall: "close" },
          );
        }
        this.#releasing = true;
        this._release(false);
      }, this.#settings.lingerMs);
    }
  }

  /** Flushes, sends FIN, waits briefly for the peer's FIN, and closes. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const done = new Promise<void>((resolve) => (this.#closeWaiters ??= []).push(resolve));
    if (!this.#closing) {
      this.#closing = true;
      if (this.#writeState === WRITE_OPEN) this.end();
      else this.#maybeRelease();
      // A paused stream would never see the peer's FIN.
      if (this.#paused) this.resume();
    }
    return done;
  }

  /** Aborts: the queue is discarded, the peer sees a reset where the runtime can send one. */
  reset(): void {
    if (this.#closed) return;
    this.#localAbort = true;
    this.#queue.clear();
    if (this.#upgrade) {
      this.#upgrade.held = [];
      this.#upgrade.heldBytes = 0;
    }
    const waiters = this.#flushWaiters;
    this.#flushWaiters = undefined;
    if (waiters) {
      const reason = new NetError("ECONNABORTED", "The stream was reset before the flush completed");
      for (const w of waiters) w.reject(reason);
    }
    if (!this.#releasing) {
      this.#releasing = true;
      this._release(true);
    }
  }

  /** Whether `reset()` was called. */
  protected get _localAbort(): boolean {
    return this.#localAbort;
  }

  /** Upgrades this stream to TLS in place: see {@linkcode Stream.startTls}. */
  startTls(options: TlsClientOptions | TlsServerOptions): Promise<TlsInfo> {
    const role: TlsRole = this._accepted ? "server" : "client";
    const refusal = this.#startTlsRefusal(role, options);
    if (refusal) return Promise.reject(refusal);
    if (this.#heldWhilePaused) {
      const bytes = this.#heldWhilePaused.reduce((sum, chunk) => sum + chunk.byteLength, 0);
      const error = new NetError(
        "TLS_PROTOCOL",
        `${bytes} bytes of plaintext arrived before startTls() and were not read; ` +
          "starting TLS over them could pass injected data off as protected",
        { syscall: "starttls" },
      );
      this._fail(error);
      return Promise.reject(error);
    }
    const upgrade: Upgrade = { held: [], heldBytes: 0 };
    this.#upgrade = upgrade;
    if (this.#started && !this.#paused) this._stopReading();
    return this.#runUpgrade(upgrade, role, options);
  }

  #startTlsRefusal(role: TlsRole, options: TlsClientOptions | TlsServerOptions): Error | undefined {
    if (this.tls) return new NetError("EALREADY", "The stream already speaks TLS", { syscall: "starttls" });
    if (this.#upgrade) {
      return new NetError("EALREADY", "A TLS upgrade of this stream is already under way", { syscall: "starttls" });
    }
    if (this.#closed || this.#releasing || this.#writeState !== WRITE_OPEN) {
      return new NetError(
        "EPIPE",
        `Cannot start TLS: the stream ${this.#closed || this.#releasing ? "is closed" : "was ended"}`,
        { syscall: "starttls" },
      );
    }
    try {
      if (role === "server") {
        checkTlsServerOptions(options as TlsServerOptions);
        if ((options as TlsServerOptions).requestClientCert) {
          return new NetError("ENOTSUP", "An upgraded stream cannot ask the client for a certificate", {
            syscall: "starttls",
          });
        }
      } else {
        checkTlsClientOptions(options as TlsClientOptions);
      }
    } catch (error) {
      return error as Error;
    }
    return this._startTlsUnsupported(role, options);
  }

  async #runUpgrade(upgrade: Upgrade, role: TlsRole, options: TlsClientOptions | TlsServerOptions): Promise<TlsInfo> {
    let info: TlsInfo;
    try {
      // What was written before the call goes out in plaintext first.
      await new Promise<void>((resolve, reject) => {
        upgrade.abort = reject;
        if (this.#queue.bytes + this._osBufferedAmount() === 0) return resolve();
        upgrade.plaintextSent = resolve;
        if (!this.#pumpScheduled) this._requestProgress();
      });
      if (this.#upgrade !== upgrade || this.#releasing) {
        throw this.#error ?? new NetError("ECONNABORTED", "The stream closed before its TLS upgrade", {
          syscall: "starttls",
        });
      }
      let upgrading: Promise<TlsInfo>;
      try {
        upgrading = this._upgradeTls(role, options);
      } catch (error) {
        // Refused before anything changed: the stream goes on in plaintext.
        this.#finishUpgrade(upgrade);
        throw error;
      }
      info = await new Promise<TlsInfo>((resolve, reject) => {
        upgrade.abort = reject;
        upgrading.then(resolve, reject);
      });
    } catch (error) {
      if (this.#upgrade === upgrade) {
        const netError = error instanceof NetError ? error : new NetError("TLS_PROTOCOL", String(error), {
          cause: error,
          syscall: "starttls",
        });
        this._fail(netError);
        throw netError;
      }
      throw error;
    }
    if (this.#upgrade !== upgrade) {
      throw this.#error ??
        new NetError("ECONNABORTED", "The stream closed during its TLS upgrade", { syscall: "starttls" });
    }
    this.#finishUpgrade(upgrade);
    return info;
  }

  /** Ends an upgrade: what it held back is queued, the FIN it deferred follows, reading goes on. */
  #finishUpgrade(upgrade: Upgrade): void {
    this.#upgrade = undefined;
    for (const bytes of upgrade.held) this.#queue.write(bytes);
    if (this.#queue.bytes === 0) {
      this._progress(); // Settles flushes and sends a deferred FIN.
    } else if (!this.#pumpScheduled) {
      this.#pumpScheduled = true;
      StreamBase.#schedulePump(this);
    }
    if (this.#started && !this.#paused && !this.#closed && !this.#peerEnded) this._startReading();
  }

  /**
   * Why this stream cannot start TLS as `role` here, checked before anything changes; the
   * default refuses, for transports without TLS.
   */
  protected _startTlsUnsupported(role: TlsRole, _options: TlsClientOptions | TlsServerOptions): NetError | undefined {
    return new NetError("ENOTSUP", `This transport cannot start TLS on a ${role} stream`, { syscall: "starttls" });
  }

  /**
   * Runs the handshake over this stream's socket, which has sent everything queued and stopped
   * reading, and switches the stream to the TLS socket. Throws at once if it must refuse before
   * changing anything; the returned promise rejects if the handshake fails.
   */
  protected _upgradeTls(_role: TlsRole, _options: TlsClientOptions | TlsServerOptions): Promise<TlsInfo> {
    throw new NetError("ENOTSUP", "This transport cannot start TLS", { syscall: "starttls" });
  }

  /** Same as `close()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
