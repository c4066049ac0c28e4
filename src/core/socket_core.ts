/**
 * One `SocketCore` per socket: a bounded receive buffer, the send queue (the adapter stream's),
 * level readiness (readable, writable, error, hup) and change notification. Every I/O model is
 * a thin view over it, and partial sends and partial receives are the normal case.
 *
 * @module
 */

import { ByteQueue } from "../_internal/byte_queue.ts";
import { Ring } from "../_internal/ring.ts";
import { NetError } from "../runtime/errors.ts";
import type { Listener, ListenOptions, Stream, StreamHandlers, Transport } from "../runtime/types.ts";

/** The default receive buffer, like SO_RCVBUF: reading from the OS pauses when it is full. */
export const DEFAULT_RECEIVE_BUFFER = 64 * 1024;
/** The default send buffer, like SO_SNDBUF: a socket is writable while less is queued. */
export const DEFAULT_SEND_BUFFER = 64 * 1024;

/**
 * Buffer sizes of a socket.
 *
 * @example
 * ```ts
 * const opts: SocketCoreOptions = { receiveBufferSize: 8192, sendBufferSize: 8192 };
 * ```
 */
export interface SocketCoreOptions {
  /** Bytes held for the application before reading from the OS pauses. Default 64 KiB. */
  receiveBufferSize?: number;
  /** Bytes queued for sending before the socket stops being writable. Default 64 KiB. */
  sendBufferSize?: number;
}

/**
 * The level readiness of a socket, as select and poll see it.
 *
 * @example
 * ```ts
 * const r: Readiness = { readable: true, writable: true, error: false, hup: false };
 * ```
 */
export interface Readiness {
  /** Data, the peer's FIN, an error or (for a listener) a pending connection is waiting. */
  readable: boolean;
  /** Less than the send buffer is queued (or, while connecting, the connect finished). */
  writable: boolean;
  /** An error is pending (a failed connect, a reset). */
  error: boolean;
  /** The connection is closed or the peer has hung up. */
  hup: boolean;
}

/**
 * An object that a core tells of every change that may affect readiness: a watcher that needs
 * no closure of its own.
 *
 * @example
 * ```ts
 * import type { SocketCore } from "sockmodels/core";
 * declare const core: SocketCore;
 * const watcher = { readinessChanged: () => console.log(core.readiness()) };
 * core.addWatcher(watcher);
 * core.unwatch(watcher);
 * ```
 */
export interface ReadinessWatcher {
  /** Called after every change that may affect the core's readiness. */
  readinessChanged(): void;
}

/**
 * What {@linkcode WatchedCore.addWatcher} takes: a function, or a {@linkcode ReadinessWatcher}.
 *
 * @example
 * ```ts
 * import type { Watcher } from "sockmodels/core";
 * const watcher: Watcher = () => console.log("changed");
 * ```
 */
export type Watcher = (() => void) | ReadinessWatcher;

/** Something with readiness that can be watched: a connected socket or a listener. */
export interface Watchable {
  /** A process-unique id. */
  readonly id: number;
  /** The current readiness. */
  readiness(): Readiness;
  /** Calls `fn` after every change that may affect readiness; returns the unsubscribe. */
  watch(fn: () => void): () => void;
  /** True once closed locally. */
  readonly isClosed: boolean;
}

let lastCoreId = 0;

/** The handlers a core sets on its stream (defined in SocketCore, which they update). */
let CoreStreamHandlers: new (core: SocketCore, stream: Stream) => StreamHandlers;

/** A core's buffer sizes: one object shared by the cores that have the same, as most do. */
interface BufferSizes {
  readonly receive: number;
  readonly send: number;
}

let lastSizes: BufferSizes = { receive: 0, send: 0 };

function bufferSizes(receive: number, send: number): BufferSizes {
  if (lastSizes.receive !== receive || lastSizes.send !== send) lastSizes = Object.freeze({ receive, send });
  return lastSizes;
}

function checkSize(value: number | undefined, fallback: number, what: string): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1) {
    throw new RangeError(`${what} must be a positive integer number of bytes, got ${v}`);
  }
  return v;
}

/**
 * What a socket core and a listener core share: their watchers. Most cores have one, which
 * sits in the field itself; only a core with more holds an array, and a core that nobody
 * watches any more holds no collection. The field is the core's own, so a core costs no second
 * object.
 *
 * @example
 * ```ts
 * import type { SocketCore } from "sockmodels/core";
 * declare const core: SocketCore;
 * const stop = core.watch(() => console.log(core.readiness()));
 * stop();
 * ```
 */
export abstract class WatchedCore {
  /** No watcher, the only one, or (two or more) all of them in order. */
  #watchers: Watcher | Watcher[] | undefined;

  /** Calls `fn` after every change that may affect readiness; returns the unsubscribe. */
  watch(fn: () => void): () => void {
    this.addWatcher(fn);
    return () => this.unwatch(fn);
  }

  /**
   * Like {@linkcode watch}, for a caller that ends it with {@linkcode unwatch}: nothing
   * allocated. `fn` may be an object whose `readinessChanged` is called, which spares a waiter
   * the closure it would keep for as long as it waits.
   */
  addWatcher(fn: Watcher): void {
    const watchers = this.#watchers;
    if (watchers === undefined) this.#watchers = fn;
    else if (Array.isArray(watchers)) {
      // A copy, not a push: a notification under way goes on over the array it started with.
      if (!watchers.includes(fn)) this.#watchers = [...watchers, fn];
    } else if (watchers !== fn) this.#watchers = [watchers, fn];
  }

  /** Stops calling `fn`. */
  unwatch(fn: Watcher): void {
    const watchers = this.#watchers;
    if (watchers === fn) this.#watchers = undefined;
    else if (Array.isArray(watchers)) {
      const i = watchers.indexOf(fn);
      if (i < 0) return;
      const rest = watchers.filter((_, j) => j !== i);
      this.#watchers = rest.length === 1 ? rest[0] : rest;
    }
  }

  /** Calls every watcher. */
  protected _notifyWatchers(): void {
    const watchers = this.#watchers;
    if (watchers === undefined) return;
    if (!Array.isArray(watchers)) return notify(watchers);
    // A watcher may unsubscribe others while we iterate: the array is never changed in place.
    for (let i = 0; i < watchers.length; i++) notify(watchers[i]);
  }
}

function notify(watcher: Watcher): void {
  if (typeof watcher === "function") watcher();
  else watcher.readinessChanged();
}

/**
 * The bits of a socket core's `#flags`: its yes-or-no state in one number, so that a core pays
 * for one field rather than six. Each has a private accessor of the same name.
 */
const EOF = 1 << 0;
const CLOSED = 1 << 1;
const STREAM_CLOSED = 1 << 2;
const SHUTDOWN = 1 << 3;
const PAUSED = 1 << 4;
const HELD = 1 << 5;

/**
 * The state of one connected (or connecting) TCP socket.
 *
 * @example
 * ```ts
 * import { defaultTransport } from "sockmodels/runtime";
 * const transport = await defaultTransport();
 * const core = SocketCore.connect(transport, "127.0.0.1", 9000);
 * core.watch(() => console.log(core.readiness()));
 * ```
 */
export class SocketCore extends WatchedCore implements Watchable {
  /** A process-unique id. */
  readonly id: number = ++lastCoreId;
  readonly #sizes: BufferSizes;
  #stream: Stream | undefined;
  readonly #received = new ByteQueue();
  #error: NetError | undefined;
  #connectResult: Promise<void> | undefined;
  #flags = 0;
  get #eof(): boolean {
    return (this.#flags & EOF) !== 0;
  }
  set #eof(on: boolean) {
    this.#flags = on ? this.#flags | EOF : this.#flags & ~EOF;
  }
  get #closed(): boolean {
    return (this.#flags & CLOSED) !== 0;
  }
  set #closed(on: boolean) {
    this.#flags = on ? this.#flags | CLOSED : this.#flags & ~CLOSED;
  }
  get #streamClosed(): boolean {
    return (this.#flags & STREAM_CLOSED) !== 0;
  }
  set #streamClosed(on: boolean) {
    this.#flags = on ? this.#flags | STREAM_CLOSED : this.#flags & ~STREAM_CLOSED;
  }
  get #shutdown(): boolean {
    return (this.#flags & SHUTDOWN) !== 0;
  }
  set #shutdown(on: boolean) {
    this.#flags = on ? this.#flags | SHUTDOWN : this.#flags & ~SHUTDOWN;
  }
  get #paused(): boolean {
    return (this.#flags & PAUSED) !== 0;
  }
  set #paused(on: boolean) {
    this.#flags = on ? this.#flags | PAUSED : this.#flags & ~PAUSED;
  }
  get #held(): boolean {
    return (this.#flags & HELD) !== 0;
  }
  set #held(on: boolean) {
    this.#flags = on ? this.#flags | HELD : this.#flags & ~HELD;
  }

  /** Wraps a connected stream, or nothing yet for a socket that is still connecting. */
  constructor(stream?: Stream, options: SocketCoreOptions = {}) {
    super();
    this.#sizes = bufferSizes(
      checkSize(options.receiveBufferSize, DEFAULT_RECEIVE_BUFFER, "Receive buffer size"),
      checkSize(options.sendBufferSize, DEFAULT_SEND_BUFFER, "Send buffer size"),
    );
    if (stream) this.#attach(stream);
  }

  /** The receive buffer size. */
  get receiveBufferSize(): number {
    return this.#sizes.receive;
  }

  /** The send buffer size. */
  get sendBufferSize(): number {
    return this.#sizes.send;
  }

  /**
   * Starts a connect and returns the core at once, connecting (like a non-blocking
   * `connect` that returned WSAEWOULDBLOCK). It becomes writable when connected, or gets an
   * error when the connect fails.
   */
  static connect(
    transport: Transport,
    hostname: string,
    port: number,
    options: SocketCoreOptions & { timeoutMs?: number; signal?: AbortSignal } = {},
  ): SocketCore {
    const core = new SocketCore(undefined, options);
    core.#connectResult = transport
      .connect({
        hostname,
        port,
        timeoutMs: options.timeoutMs,
        signal: options.signal,
        // write() returns false exactly when the socket stops being writable, so the drain
        // that follows is the moment it becomes writable again.
        highWaterMark: core.sendBufferSize - 1,
        // The application decides when to close after recv returns 0, as with Winsock.
        allowHalfOpen: true,
      })
      .then(
        (stream) => {
          if (core.#closed) {
            stream.reset();
            return;
          }
          core.#attach(stream);
          core._notifyWatchers();
        },
        (error: NetError) => {
          core.#error = error;
          core.#streamClosed = true;
          core._notifyWatchers();
          throw error;
        },
      );
    core.#connectResult.catch(() => {});
    return core;
  }

  #attach(stream: Stream): void {
    this.#stream = stream;
    if (this.#held) stream.pause();
    stream.setHandlers(new CoreStreamHandlers(this, stream));
  }

  static {
    // One object per stream, with its callbacks on the prototype: a core costs no closures.
    CoreStreamHandlers = class implements StreamHandlers {
      readonly #core: SocketCore;
      readonly #stream: Stream;
      constructor(core: SocketCore, stream: Stream) {
        this.#core = core;
        this.#stream = stream;
      }
      onData(chunk: Uint8Array): void {
        const core = this.#core;
        core.#received.write(chunk);
        if (core.#received.bytes >= core.receiveBufferSize && !core.#paused) {
          core.#paused = true;
          this.#stream.pause();
        }
        core._notifyWatchers();
      }
      onDrain(): void {
        this.#core._notifyWatchers();
      }
      onEnd(): void {
        this.#core.#eof = true;
        this.#core._notifyWatchers();
      }
      onClose(error?: NetError): void {
        const core = this.#core;
        core.#streamClosed = true;
        if (error) core.#error ??= error;
        core.#eof = true;
        core._notifyWatchers();
      }
    };
  }

  /**
   * Holds reading from the OS (true) or lets it go on (false), whatever the receive buffer
   * holds: what is buffered can still be read, and then the socket has no data until reading
   * goes on, so TCP slows the peer down. A server holds a client whose messages cost more to
   * pass on than the others can take.
   *
   * @example
   * ```ts
   * import type { SocketCore } from "sockmodels/core";
   * declare const core: SocketCore;
   * core.holdReading(true); // the peer floods: stop taking its bytes
   * core.holdReading(false); // the others caught up
   * ```
   */
  holdReading(hold: boolean): void {
    if (hold === this.#held) return;
    this.#held = hold;
    if (this.#paused || this.#stream === undefined) return;
    if (hold) this.#stream.pause();
    else this.#stream.resume();
  }

  /** Resolves when connected; rejects with the connect error. */
  connected(): Promise<void> {
    return this.#connectResult ?? Promise.resolve();
  }

  /** The adapter stream, once connected. */
  get stream(): Stream | undefined {
    return this.#stream;
  }

  /** True while a connect is in progress. */
  get connecting(): boolean {
    return this.#stream === undefined && this.#error === undefined && !this.#closed;
  }

  /** Bytes waiting in the receive buffer. */
  get available(): number {
    return this.#received.bytes;
  }

  /** True once the peer's FIN (or a close) was seen. */
  get eof(): boolean {
    return this.#eof;
  }

  /** The pending error, if any. */
  get error(): NetError | undefined {
    return this.#error;
  }

  /** True once closed locally. */
  get isClosed(): boolean {
    return this.#closed;
  }

  /** True once the underlying stream has closed (locally or by the peer). */
  get streamClosed(): boolean {
    return this.#streamClosed;
  }

  /** Bytes queued for sending and not yet taken by the OS. */
  get sendQueued(): number {
    return this.#stream?.bufferedAmount ?? 0;
  }

  /** Room left in the send buffer. */
  get sendSpace(): number {
    if (!this.#stream || this.#shutdown || this.#streamClosed) return 0;
    return Math.max(0, this.sendBufferSize - this.#stream.bufferedAmount);
  }

  /** The level readiness now. */
  readiness(): Readiness {
    const connected = this.#stream !== undefined;
    return {
      readable: this.#received.bytes > 0 || this.#eof || this.#error !== undefined,
      writable: connected && !this.#shutdown && !this.#streamClosed &&
        this.#stream!.bufferedAmount < this.sendBufferSize,
      error: this.#error !== undefined,
      hup: this.#streamClosed || (this.#eof && this.#shutdown),
    };
  }

  /** Copies up to `target.byteLength` received bytes into `target`; returns the count. */
  read(target: Uint8Array): number {
    const copied = this.#received.read(target);
    this.#resumeIfRoom();
    return copied;
  }

  /** Takes the next received bytes without copying (up to `max`), or undefined if none. */
  readChunk(max: number = Number.POSITIVE_INFINITY): Uint8Array | undefined {
    const chunk = this.#received.shift(max);
    this.#resumeIfRoom();
    return chunk;
  }

  #resumeIfRoom(): void {
    if (this.#paused && this.#received.bytes < this.receiveBufferSize) {
      this.#paused = false;
      if (!this.#held) this.#stream?.resume();
    }
  }

  /**
   * Queues bytes for sending. Returns whether the socket is still writable afterwards.
   * Throws ENOTCONN while connecting and EPIPE after shutdown or close.
   */
  write(bytes: Uint8Array): boolean {
    const stream = this.#requireStream("send");
    if (this.#shutdown || this.#closed) {
      throw new NetError("EPIPE", `Cannot send ${bytes.byteLength} bytes: the socket was shut down`, {
        syscall: "send",
      });
    }
    if (this.#error) throw this.#error;
    stream.write(bytes);
    return stream.bufferedAmount < this.sendBufferSize;
  }

  #requireStream(op: string): Stream {
    if (this.#stream) return this.#stream;
    if (this.#error) throw this.#error;
    throw new NetError(
      this.#closed ? "ENOTCONN" : "EWOULDBLOCK",
      this.#closed ? `Cannot ${op}: the socket is closed` : `Cannot ${op}: the socket is still connecting`,
      { syscall: op },
    );
  }

  /** Sends FIN after the queued bytes (shutdown(SD_SEND)). */
  shutdown(): void {
    if (this.#shutdown) return;
    this.#shutdown = true;
    this.#stream?.end();
    this._notifyWatchers();
  }

  /** Closes gracefully (flushes first). Resolves once the stream has closed. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#shutdown = true;
    const stream = this.#stream;
    this.#received.clear();
    this._notifyWatchers();
    if (stream) await stream.close();
  }

  /** Aborts the connection (an RST where the runtime can send one). */
  reset(): void {
    this.#closed = true;
    this.#shutdown = true;
    this.#stream?.reset();
    this._notifyWatchers();
  }
}

/**
 * A listening socket with an accept queue, for the models' `accept`.
 *
 * @example
 * ```ts
 * import { defaultTransport } from "sockmodels/runtime";
 * const listener = await ListenerCore.listen(await defaultTransport(), { port: 0 });
 * listener.watch(() => console.log("pending:", listener.pending));
 * ```
 */
export class ListenerCore extends WatchedCore implements Watchable {
  /** A process-unique id. */
  readonly id: number = ++lastCoreId;
  #listener: Listener | undefined;
  readonly #queue = new Ring<SocketCore>();
  #closed = false;
  #options: SocketCoreOptions;

  private constructor(options: SocketCoreOptions) {
    super();
    this.#options = options;
  }

  /** Binds and listens; accepted connections wait in the queue until `accept()`. */
  static async listen(
    transport: Transport,
    options: Omit<ListenOptions, "onAccept"> & SocketCoreOptions,
  ): Promise<ListenerCore> {
    const core = new ListenerCore(options);
    // Validate the sizes now rather than at the first accept.
    new SocketCore(undefined, options);
    core.#listener = await transport.listen({
      ...options,
      highWaterMark: (options.sendBufferSize ?? DEFAULT_SEND_BUFFER) - 1,
      allowHalfOpen: true,
      onAccept: (stream) => {
        if (core.#closed) {
          stream.reset();
          return;
        }
        core.#queue.push(new SocketCore(stream, core.#options));
        core._notifyWatchers();
      },
    });
    return core;
  }

  /** The bound address. */
  get addr(): Listener["addr"] {
    return this.#listener!.addr;
  }

  /** Connections waiting to be accepted. */
  get pending(): number {
    return this.#queue.length;
  }

  /** True once closed. */
  get isClosed(): boolean {
    return this.#closed;
  }

  /** Takes the next accepted connection, or undefined if none is waiting. */
  accept(): SocketCore | undefined {
    return this.#queue.shift();
  }

  /** Readable while a connection waits; hup once closed. */
  readiness(): Readiness {
    return { readable: this.pending > 0, writable: false, error: false, hup: this.#closed };
  }

  /** Stops listening and resets connections nobody accepted. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (let core = this.#queue.shift(); core !== undefined; core = this.#queue.shift()) core.reset();
    this._notifyWatchers();
    await this.#listener?.close();
  }
}

/**
 * Options for waiting on a socket.
 *
 * @example
 * ```ts
 * const opts: WaitOptions = { timeoutMs: 1000, signal: AbortSignal.timeout(5000) };
 * ```
 */
export interface WaitOptions {
  /** Give up with ETIMEDOUT after this many milliseconds. */
  timeoutMs?: number;
  /** Give up with ECANCELED when aborted. */
  signal?: AbortSignal;
}

/**
 * Waits until `ready(target)` is true, checking after every change `target` reports. A
 * predicate that reads only its argument can be one function for every wait, so a wait that
 * lasts long (a blocking recv on an idle connection) holds no closure of its own.
 *
 * @example
 * ```ts
 * import { type SocketCore, waitUntil } from "sockmodels/core";
 * declare const core: SocketCore;
 * // A blocking recv: wait for data, the peer's FIN or an error, for at most 5 s.
 * await waitUntil(core, () => core.readiness().readable, { timeoutMs: 5000 }, "recv");
 * ```
 */
export function waitUntil<T extends Watchable>(
  target: T,
  ready: (target: T) => boolean,
  options: WaitOptions = {},
  operation = "wait",
): Promise<void> {
  return waitThenTake(target, ready, undefined, 0, options, operation);
}

/**
 * Waits as {@linkcode waitUntil} does, then resolves with `take(target, arg)`, or rejects with
 * what `take` throws. A blocking recv that waits in it holds one promise and one wait, with no
 * continuation of its own: `take` and `ready` can be shared by every wait, and `arg` (a byte
 * count, say) is kept by the wait.
 *
 * @example
 * ```ts
 * import { type SocketCore, waitThenTake } from "sockmodels/core";
 * declare const core: SocketCore;
 * const readable = (c: SocketCore) => c.readiness().readable;
 * const bytes = await waitThenTake(core, readable, (c, max) => c.readChunk(max), 4096, {}, "recv");
 * ```
 */
export function waitThenTake<T extends Watchable, R>(
  target: T,
  ready: (target: T) => boolean,
  take: ((target: T, arg: number) => R) | undefined,
  arg: number,
  options: WaitOptions = {},
  operation = "wait",
): Promise<R> {
  if (ready(target)) {
    if (take === undefined) return Promise.resolve(undefined as R);
    try {
      return Promise.resolve(take(target, arg));
    } catch (error) {
      return Promise.reject(error);
    }
  }
  const signal = options.signal;
  if (signal?.aborted) {
    return Promise.reject(new NetError("ECANCELED", `The ${operation} was cancelled`, { cause: signal.reason }));
  }
  return new Promise<R>((resolve, reject) =>
    new ReadyWait(
      target,
      ready as (target: Watchable) => boolean,
      take as ((target: Watchable, arg: number) => unknown) | undefined,
      arg,
      operation,
      options,
      resolve as (value: unknown) => void,
      reject,
    )
  );
}

/**
 * One pending wait of {@linkcode waitThenTake}: a watcher, and a timer and an abort listener if
 * asked for. A task that waits in a blocking recv for a long time holds one of these, so it is
 * one object, its own watcher, not a closure per part.
 */
class ReadyWait implements ReadinessWatcher {
  readonly #target: Watchable;
  readonly #ready: (target: Watchable) => boolean;
  readonly #take: ((target: Watchable, arg: number) => unknown) | undefined;
  readonly #arg: number;
  readonly #resolve: (value: unknown) => void;
  readonly #reject: (error: unknown) => void;
  /** Made only for a wait with a signal or a timeout, or on a target that is not a core. */
  #extra: ReadyWaitExtra | undefined;

  readinessChanged(): void {
    const target = this.#target;
    if (!this.#ready(target)) return;
    this.#end();
    const take = this.#take;
    if (take === undefined) return this.#resolve(undefined);
    let value: unknown;
    try {
      value = take(target, this.#arg);
    } catch (error) {
      return this.#reject(error);
    }
    this.#resolve(value);
  }

  constructor(
    target: Watchable,
    ready: (target: Watchable) => boolean,
    take: ((target: Watchable, arg: number) => unknown) | undefined,
    arg: number,
    operation: string,
    options: WaitOptions,
    resolve: (value: unknown) => void,
    reject: (error: unknown) => void,
  ) {
    this.#target = target;
    this.#ready = ready;
    this.#take = take;
    this.#arg = arg;
    this.#resolve = resolve;
    this.#reject = reject;
    if (target instanceof WatchedCore) target.addWatcher(this);
    else this.#extraOf().unwatch = target.watch(() => this.readinessChanged());
    const signal = options.signal;
    if (signal !== undefined) {
      const extra = this.#extraOf();
      extra.signal = signal;
      extra.onAbort = () => {
        this.#end();
        reject(new NetError("ECANCELED", `The ${operation} was cancelled`, { cause: signal.reason }));
      };
      signal.addEventListener("abort", extra.onAbort, { once: true });
    }
    const timeoutMs = options.timeoutMs;
    if (timeoutMs !== undefined) {
      this.#extraOf().timer = setTimeout(() => {
        this.#end();
        reject(new NetError("ETIMEDOUT", `The ${operation} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
    }
  }

  #extraOf(): ReadyWaitExtra {
    return this.#extra ??= { unwatch: undefined, signal: undefined, onAbort: undefined, timer: undefined };
  }

  #end(): void {
    const extra = this.#extra;
    if (extra === undefined) return (this.#target as Watchable & WatchedCore).unwatch(this);
    if (extra.unwatch !== undefined) extra.unwatch();
    else (this.#target as Watchable & WatchedCore).unwatch(this);
    if (extra.timer !== undefined) clearTimeout(extra.timer);
    if (extra.onAbort !== undefined) extra.signal?.removeEventListener("abort", extra.onAbort);
  }
}

/** The parts of a {@linkcode ReadyWait} that most waits (a recv with no deadline) do not have. */
interface ReadyWaitExtra {
  unwatch: (() => void) | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
}
