/**
 * `serve()`: the IOCP pattern without its ceremony. Accepted connections are framed as bytes
 * arrive; every frame becomes a completion in one bounded queue; `workers` consumers run the
 * handler, one frame at a time per connection (a strand) unless ordering is switched off;
 * replies are batched into one OS write per connection per tick by the adapter.
 *
 * Handlers that return synchronously run inline, at no queueing cost; a handler that returns a
 * promise holds one of the `workers` slots until it settles, and further completions wait in
 * the queue. A full queue pauses reading, a slow reader is paused or closed by policy, and
 * nothing is dropped silently: every frame is either handled, or counted and reported as
 * aborted at shutdown.
 *
 * @module
 */

import { NetError } from "../runtime/errors.ts";
import type { FrameCodec, FrameDecoder } from "../framing/types.ts";
import { endDecoder } from "../framing/end_decoder.ts";
import { availableParallelism, defaultTransport } from "../runtime/detect.ts";
import type { Addr, Listener, Stream, StreamHandlers, TlsInfo } from "../runtime/types.ts";
import type { ProxyHeader } from "../runtime/proxy_header.ts";
import { ownBytes, ThreadPool } from "./thread_pool.ts";
import { Ring } from "../_internal/ring.ts";
import type { Connection, ServeOptions, Server, ServerEvent, ServerStats } from "./server_types.ts";

export * from "./server_types.ts";

class EngineConnection implements Connection {
  readonly id: number;
  readonly remoteAddr: Addr;
  data: unknown = undefined;
  readonly stream: Stream;
  readonly decoder: FrameDecoder;
  // The connection's frames waiting for a worker (its strand).
  readonly queue: Ring<Uint8Array> = new Ring();
  scheduled = false;
  running = 0;
  pausedByQueue = false;
  pausedBySlowReader = false;
  /** The handler paused reading (`Connection.pause`). */
  pausedByApp = false;
  closed = false;
  lastActivity = 0;
  closeReason: Error | undefined;
  peerEnded = false;
  /** The engine ended or closed this connection's write side: sends are refused. */
  writeEnded = false;
  out: Uint8Array | undefined;
  outLength = 0;
  /** The batch buffer this connection allocated for itself, once its batches outgrew the slab. */
  ownBatch: Uint8Array | undefined;
  /**
   * The stream's bufferedAmount right after the engine last wrote to it. Only the engine
   * writes to the stream and the OS only takes bytes away, so this is an upper bound of what
   * the stream holds until the next write, and checking the high water mark against it is
   * exact whenever it passes.
   */
  bufferedAtLastWrite = 0;
  flushScheduled = false;
  /** The size of this connection's next batch buffer. */
  batchSize = FIRST_BATCH_SIZE;
  #engine: Engine;

  constructor(engine: Engine, stream: Stream, decoder: FrameDecoder) {
    this.#engine = engine;
    this.stream = stream;
    this.id = stream.id;
    this.remoteAddr = stream.remoteAddr;
    this.decoder = decoder;
  }

  get pending(): number {
    return this.queue.length;
  }

  get bufferedAmount(): number {
    return this.stream.bufferedAmount + this.outLength;
  }

  get writable(): boolean {
    return !this.closed && !this.writeEnded;
  }

  get tls(): TlsInfo | undefined {
    return this.stream.tls;
  }

  get proxy(): ProxyHeader | undefined {
    return this.stream.proxy;
  }

  send(frame: Uint8Array): boolean {
    return this.#engine.send(this, frame);
  }

  close(): Promise<void> {
    return this.#engine.closeConnection(this);
  }

  reset(): void {
    this.#engine.abort(this);
  }

  pause(): void {
    this.#engine.pause(this);
  }

  resume(): void {
    this.#engine.resume(this);
  }
}

/** The handlers the engine sets on a connection's stream (defined in Engine, whose state they update). */
let ConnectionHandlers: new (engine: Engine, conn: EngineConnection) => StreamHandlers;

class Engine {
  readonly stats: ServerStats = {
    connections: 0,
    connectionsTotal: 0,
    rejected: 0,
    framesIn: 0,
    framesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    queueDepth: 0,
    busyWorkers: 0,
    abortedFrames: 0,
    errors: {},
  };
  readonly connections = new Set<EngineConnection>();
  readonly options: ServeOptions;
  readonly workers: number;
  readonly ordered: boolean;
  readonly highWaterMark: number;
  readonly queueLimit: number;
  readonly framer: FrameCodec;
  readonly trailer: Uint8Array;
  readonly canEncodeInto: boolean;
  /** Frames are lent to the handler: those it does not handle at once are copied. */
  readonly loanFrames: boolean;
  /** Whether connections record when they last received bytes (only with an idle timeout). */
  readonly tracksActivity: boolean;
  /** The connection whose chunk is being dispatched right now, if any. */
  #dispatching: EngineConnection | undefined = undefined;
  readonly pool: ThreadPool<Uint8Array, Uint8Array | undefined | null> | undefined;
  // Connections with frames ready and no frame running (or any, when unordered).
  #ready: EngineConnection[] = [];
  #readyHead = 0;
  #pumping = false;
  #closing = false;
  #idleTimer: ReturnType<typeof setInterval> | undefined;
  #idleWaiters: (() => void)[] = [];
  /** The slab that small batches are carved from, how much of it is handed out, and the last carve. */
  #slab = new Uint8Array(0);
  #slabUsed = 0;
  #lastCarved: Uint8Array | undefined;
  now: () => number = Date.now;

  constructor(options: ServeOptions) {
    this.options = options;
    this.workers = options.workers ?? 2 * availableParallelism();
    if (!Number.isInteger(this.workers) || this.workers < 1) {
      throw new RangeError(`Workers must be a positive integer, got ${options.workers}`);
    }
    this.ordered = (options.ordering ?? "per-connection") === "per-connection";
    if (options.ordering !== undefined && options.ordering !== "per-connection" && options.ordering !== "none") {
      throw new RangeError(`Ordering must be "per-connection" or "none", got ${JSON.stringify(options.ordering)}`);
    }
    this.highWaterMark = options.highWaterMark ?? 1024 * 1024;
    this.queueLimit = options.queueLimit ?? 65_536;
    for (const [name, v] of [["High water mark", this.highWaterMark], ["Queue limit", this.queueLimit]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
    }
    if (options.maxConnections !== undefined && !(options.maxConnections >= 0)) {
      throw new RangeError(`Max connections must be a non-negative number, got ${options.maxConnections}`);
    }
    if (options.idleTimeoutMs !== undefined && !(options.idleTimeoutMs > 0)) {
      throw new RangeError(`Idle timeout must be a positive number of milliseconds, got ${options.idleTimeoutMs}`);
    }
    if (!options.framer || typeof options.framer.decoder !== "function") {
      throw new TypeError("serve() needs a framer, such as lengthPrefixed({ lengthFieldLength: 4 })");
    }
    if (options.threads) {
      this.pool = new ThreadPool<Uint8Array, Uint8Array | undefined | null>({
        module: options.threads.module,
        size: options.threads.size,
        maxQueue: options.threads.maxQueue,
        name: "sockmodels-engine",
      });
    } else if (typeof options.onMessage !== "function") {
      throw new TypeError("serve() needs an onMessage function, or threads");
    }
    this.framer = options.framer;
    this.trailer = options.framer.trailer;
    this.canEncodeInto = typeof options.framer.encodeInto === "function";
    this.loanFrames = options.loanFrames === true;
    this.tracksActivity = options.idleTimeoutMs !== undefined;
  }

  event(e: ServerEvent): void {
    this.options.onEvent?.(e);
  }

  countError(code: string): void {
    this.stats.errors[code] = (this.stats.errors[code] ?? 0) + 1;
  }

  accept(stream: Stream): void {
    const max = this.options.maxConnections;
    if (this.#closing || (max !== undefined && this.connections.size >= max)) {
      this.stats.rejected++;
      this.event({ type: "rejected", connectionId: stream.id });
      stream.reset();
      return;
    }
    const conn = new EngineConnection(this, stream, this.framer.decoder());
    conn.lastActivity = this.now();
    this.connections.add(conn);
    this.stats.connections++;
    this.stats.connectionsTotal++;
    stream.setHandlers(new ConnectionHandlers(this, conn));
    this.event({ type: "open", connectionId: conn.id });
    try {
      this.options.onOpen?.(conn);
    } catch (error) {
      this.#handlerError(conn, error);
    }
  }

  static {
    // One object per connection, with its callbacks on the prototype: a connection costs no
    // closures.
    ConnectionHandlers = class implements StreamHandlers {
      readonly #engine: Engine;
      readonly #conn: EngineConnection;
      constructor(engine: Engine, conn: EngineConnection) {
        this.#engine = engine;
        this.#conn = conn;
      }
      get loanedChunks(): boolean {
        return this.#engine.lends(this.#conn);
      }
      onData(chunk: Uint8Array): void {
        this.#engine.#onData(this.#conn, chunk);
      }
      onDrain(): void {
        const conn = this.#conn;
        if (conn.pausedBySlowReader) {
          conn.pausedBySlowReader = false;
          this.#engine.#resumeReading(conn);
        }
      }
      onEnd(): void {
        const conn = this.#conn;
        conn.peerEnded = true;
        if (conn.closeReason) return;
        const error = endDecoder(conn.decoder);
        if (error !== undefined) return this.#engine.#protocolError(conn, error);
        this.#engine.#endIfDone(conn);
      }
      onClose(error?: NetError): void {
        this.#engine.#onClose(this.#conn, error);
      }
    };
  }

  #onData(conn: EngineConnection, chunk: Uint8Array): void {
    this.stats.bytesIn += chunk.byteLength;
    if (this.tracksActivity) conn.lastActivity = this.now();
    // The engine ended this connection's sending side (a shutdown, a close, a protocol error):
    // nothing it receives now can be answered, so it is not handed to the handler.
    if (conn.writeEnded) return;
    let frames: Uint8Array[];
    try {
      frames = conn.decoder.push(chunk);
    } catch (error) {
      // Frames decoded before the bad bytes are still handled, then the connection closes.
      const partial = (error as { frames?: Uint8Array[] }).frames;
      if (partial) { for (const f of partial) this.#enqueue(conn, this.lends(conn) ? f.slice() : f); }
      this.#protocolError(conn, error as Error);
      this.#pump();
      return;
    }
    let i = 0;
    // Fast path: nothing is queued or running for this connection and a slot is free, so a
    // synchronous handler runs right here, with no queueing at all.
    const outer = this.#dispatching;
    this.#dispatching = conn;
    try {
      while (
        i < frames.length && conn.pending === 0 && !conn.scheduled && conn.running === 0 &&
        this.stats.busyWorkers < this.workers && !conn.closed
      ) {
        this.stats.framesIn++;
        this.#run(conn, frames[i++]);
      }
    } finally {
      this.#dispatching = outer;
      // The replies of this chunk leave now, in one write, without waiting for a microtask.
      if (conn.outLength > 0 && !conn.flushScheduled) this.#flushOut(conn);
    }
    if (i === frames.length) return;
    // Lent frames that wait for their turn outlive the chunk: they are copied.
    const copy = this.lends(conn);
    for (; i < frames.length; i++) this.#enqueue(conn, copy ? frames[i].slice() : frames[i]);
    this.#pump();
  }

  #enqueue(conn: EngineConnection, frame: Uint8Array): void {
    this.stats.framesIn++;
    conn.queue.push(frame);
    this.stats.queueDepth++;
    if (!conn.scheduled && (conn.running === 0 || !this.ordered)) {
      conn.scheduled = true;
      this.#ready.push(conn);
    }
    if (this.stats.queueDepth > this.queueLimit && !conn.pausedByQueue) {
      conn.pausedByQueue = true;
      conn.stream.pause();
    }
  }

  #takeFrame(conn: EngineConnection): Uint8Array {
    const frame = conn.queue.shift()!;
    this.stats.queueDepth--;
    if (conn.pausedByQueue && this.stats.queueDepth <= this.queueLimit >> 1) {
      conn.pausedByQueue = false;
      this.#resumeReading(conn);
    }
    return frame;
  }

  /** Reads from `conn` again, unless something else still holds it paused. */
  #resumeReading(conn: EngineConnection): void {
    if (!conn.pausedByQueue && !conn.pausedBySlowReader && !conn.pausedByApp && !conn.closed) conn.stream.resume();
  }

  pause(conn: EngineConnection): void {
    conn.pausedByApp = true;
    conn.stream.pause();
  }

  resume(conn: EngineConnection): void {
    if (!conn.pausedByApp) return;
    conn.pausedByApp = false;
    this.#resumeReading(conn);
  }

  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      const ready = this.#ready;
      while (this.#readyHead < ready.length && this.stats.busyWorkers < this.workers) {
        const conn = ready[this.#readyHead];
        ready[this.#readyHead++] = undefined as unknown as EngineConnection;
        conn.scheduled = false;
        if (conn.closed) continue;
        // A strand: run this connection's frames one after another while they complete
        // synchronously; stop at the first one that returns a promise.
        while (conn.pending > 0 && (conn.running === 0 || !this.ordered) && this.stats.busyWorkers < this.workers) {
          this.#run(conn, this.#takeFrame(conn));
          if (conn.closed) break;
        }
        if (conn.pending > 0 && !conn.scheduled && !conn.closed && (conn.running === 0 || !this.ordered)) {
          conn.scheduled = true;
          ready.push(conn);
        }
        if (conn.peerEnded) this.#endIfDone(conn);
      }
      if (this.#readyHead === ready.length) {
        ready.length = 0;
        this.#readyHead = 0;
      } else if (this.#readyHead > 1024 && this.#readyHead * 2 > ready.length) {
        ready.splice(0, this.#readyHead);
        this.#readyHead = 0;
      }
    } finally {
      this.#pumping = false;
    }
    if (this.stats.queueDepth === 0 && this.stats.busyWorkers === 0) this.#notifyIdle();
  }

  #run(conn: EngineConnection, frame: Uint8Array): void {
    let result: void | Promise<void>;
    try {
      result = this.pool ? this.#runInThread(conn, frame) : this.options.onMessage!(conn, frame);
    } catch (error) {
      this.#handlerError(conn, error);
      return;
    }
    if (result && typeof (result as Promise<void>).then === "function") {
      conn.running++;
      this.stats.busyWorkers++;
      (result as Promise<void>).then(
        () => this.#settled(conn),
        (error) => {
          this.#handlerError(conn, error);
          this.#settled(conn);
        },
      );
    }
  }

  // After the peer's FIN, the connection ends its side once every frame was handled, so that
  // replies of handlers still running are not cut off.
  #endIfDone(conn: EngineConnection): void {
    if (conn.peerEnded && !conn.closed && !conn.writeEnded && conn.pending === 0 && conn.running === 0) {
      this.#flushOut(conn);
      conn.writeEnded = true;
      conn.stream.end();
    }
  }

  /**
   * Whether the frames of `conn` may lie in a buffer that is filled again: frames are lent and
   * its decoder keeps no view of a chunk, so its stream is asked for loaned chunks.
   */
  lends(conn: EngineConnection): boolean {
    return this.loanFrames && conn.decoder.copiesIncompleteFrames === true;
  }

  #runInThread(conn: EngineConnection, frame: Uint8Array): Promise<void> {
    const owned = this.lends(conn) ? frame.slice() : ownBytes(frame);
    return this.pool!.run(owned, { key: conn.id, transfer: [owned.buffer] }).then((reply) => {
      if (reply && conn.writable) this.send(conn, reply);
    });
  }

  #settled(conn: EngineConnection): void {
    conn.running--;
    this.stats.busyWorkers--;
    this.#endIfDone(conn);
    if (conn.pending > 0 && !conn.scheduled && !conn.closed && (conn.running === 0 || !this.ordered)) {
      conn.scheduled = true;
      this.#ready.push(conn);
    }
    this.#pump();
  }

  #handlerError(conn: EngineConnection, error: unknown): void {
    this.countError("EHANDLER");
    const e = error instanceof Error ? error : new Error(String(error));
    this.event({ type: "error", connectionId: conn.id, error: e });
    this.abort(conn);
  }

  /** Ends a connection at once: its batch and queue are dropped, and sends are refused. */
  abort(conn: EngineConnection, reason?: Error): void {
    if (reason) conn.closeReason ??= reason;
    conn.writeEnded = true;
    conn.out = undefined;
    conn.outLength = 0;
    if (!conn.closed) conn.stream.reset();
  }

  #protocolError(conn: EngineConnection, error: Error): void {
    this.countError((error as { code?: string }).code ?? "EPROTOCOL");
    this.event({ type: "error", connectionId: conn.id, error });
    conn.closeReason = error;
    // Replies already queued still go out; the connection then closes with the reason.
    this.#flushOut(conn);
    conn.writeEnded = true;
    void conn.stream.close();
  }

  send(conn: EngineConnection, frame: Uint8Array): boolean {
    if (conn.closed) {
      throw new NetError("ENOTCONN", `Cannot send on connection ${conn.id}: it is closed`, { syscall: "send" });
    }
    if (conn.writeEnded) {
      // Refused here, at the call: a batched reply would otherwise fail later, in a microtask.
      throw new NetError(
        "EPIPE",
        `Cannot send on connection ${conn.id}: its sending side was ended (after the peer's FIN, a close or a protocol error)`,
        { syscall: "send" },
      );
    }
    // Once the stream holds none of the bytes it was given, the connection's own batch buffer
    // is filled again from its start instead of going on in its rest or being replaced.
    if (conn.outLength === 0 && conn.ownBatch !== undefined && conn.out !== conn.ownBatch) {
      if (conn.stream.bufferedAmount === 0) conn.out = conn.ownBatch;
    }
    if (this.canEncodeInto && frame.byteLength <= BATCH_FRAME_LIMIT) {
      // The codec writes header, payload and trailer straight into the batch buffer.
      const framer = this.framer;
      const out = conn.out;
      let n = out === undefined ? -1 : framer.encodeInto!(frame, out, conn.outLength);
      if (n < 0) n = framer.encodeInto!(frame, this.#newBatch(conn, frame.byteLength), 0);
      if (n >= 0) {
        conn.outLength += n;
        this.#scheduleFlush(conn);
        return this.#sent(conn, frame);
      }
    }
    const header = this.framer.encodeHeader(frame);
    const size = header.byteLength + frame.byteLength + this.trailer.byteLength;
    if (size <= BATCH_FRAME_LIMIT) {
      // Small frames of one tick are copied into one batch buffer and written once.
      let out = conn.out;
      if (out === undefined || conn.outLength + size > out.byteLength) out = this.#newBatch(conn, size);
      let at = conn.outLength;
      out.set(header, at);
      at += header.byteLength;
      out.set(frame, at);
      at += frame.byteLength;
      if (this.trailer.byteLength > 0) {
        out.set(this.trailer, at);
        at += this.trailer.byteLength;
      }
      conn.outLength = at;
      this.#scheduleFlush(conn);
    } else {
      this.#flushOut(conn);
      if (header.byteLength > 0) this.#write(conn, header);
      // The stream keeps what it is given until it is sent: a frame that may be lent is copied.
      this.#write(conn, this.lends(conn) ? frame.slice() : frame);
      if (this.trailer.byteLength > 0) this.#write(conn, this.trailer);
    }
    return this.#sent(conn, frame);
  }

  /**
   * Writes out the current batch of `conn` and starts a new one of at least `size` bytes. A
   * connection starts with small batches and doubles them each time one fills within a tick,
   * so one that only gets a few lines keeps a few hundred bytes, not a full batch.
   */
  #newBatch(conn: EngineConnection, size: number): Uint8Array {
    if (conn.outLength > 0) {
      this.#flushOut(conn);
      if (conn.batchSize < BATCH_SIZE) conn.batchSize *= 2;
    }
    const length = Math.max(conn.batchSize, size + BATCH_HEADROOM);
    // A connection that sends a reply now and then takes its batch from a slab shared by
    // every connection, and gives back what it did not use when the batch is written: an idle
    // connection keeps no buffer, and a reply costs no allocation of its own.
    if (length <= FIRST_BATCH_SIZE) return conn.out = this.#carve(length);
    return conn.out = conn.ownBatch = new Uint8Array(length);
  }

  /** `length` bytes of the shared slab, or of a new one when it is used up. */
  #carve(length: number): Uint8Array {
    if (this.#slab.byteLength - this.#slabUsed < length) {
      this.#slab = new Uint8Array(SLAB_SIZE);
      this.#slabUsed = 0;
    }
    const view = this.#slab.subarray(this.#slabUsed, this.#slabUsed + length);
    this.#slabUsed += length;
    return this.#lastCarved = view;
  }

  /**
   * Makes sure the batch of `conn` is written this tick. Replies made while its own chunk is
   * being dispatched go out at the end of that dispatch; any other send (an asynchronous
   * handler, a broadcast from another connection) flushes in a microtask.
   */
  #scheduleFlush(conn: EngineConnection): void {
    if (conn.flushScheduled || conn === this.#dispatching) return;
    conn.flushScheduled = true;
    queueMicrotask(() => this.#flushOut(conn));
  }

  /** Counts a frame queued on `conn`, and applies the slow-reader policy. */
  #sent(conn: EngineConnection, frame: Uint8Array): boolean {
    const stream = conn.stream;
    this.stats.framesOut++;
    this.stats.bytesOut += frame.byteLength;
    if (conn.bufferedAtLastWrite + conn.outLength <= this.highWaterMark) return true;
    conn.bufferedAtLastWrite = stream.bufferedAmount;
    if (conn.bufferedAtLastWrite + conn.outLength <= this.highWaterMark) return true;
    if (!conn.pausedBySlowReader) {
      const error = new NetError(
        "ENOBUFS",
        `Connection ${conn.id} is a slow reader: ${stream.bufferedAmount} bytes unsent, above the high water mark of ${this.highWaterMark}`,
      );
      this.event({ type: "slow", connectionId: conn.id, error });
      if (this.options.slowReader === "close") {
        this.countError("ENOBUFS");
        this.abort(conn, error);
      } else {
        conn.pausedBySlowReader = true;
        stream.pause();
      }
    }
    return false;
  }

  closeConnection(conn: EngineConnection): Promise<void> {
    this.#flushOut(conn);
    conn.writeEnded = true;
    return conn.stream.close();
  }

  #flushOut(conn: EngineConnection): void {
    conn.flushScheduled = false;
    if (conn.outLength === 0 || conn.out === undefined) return;
    const bytes = conn.out.subarray(0, conn.outLength);
    // The stream owns what it was given. A batch carved from the slab gives back what it did
    // not use, when it was the last carved; a connection whose batches fill within a tick goes
    // on in the rest of its own buffer, unless too little is left to be worth keeping.
    if (conn.out === this.#lastCarved) {
      this.#slabUsed -= conn.out.byteLength - conn.outLength;
      this.#lastCarved = undefined;
      conn.out = undefined;
    } else if (conn.batchSize <= FIRST_BATCH_SIZE || conn.out.byteLength - conn.outLength < MIN_BATCH_REST) {
      conn.out = undefined;
    } else {
      conn.out = conn.out.subarray(conn.outLength);
    }
    conn.outLength = 0;
    this.#write(conn, bytes);
  }

  /**
   * Hands bytes to the stream. A stream that refuses them (it failed or is being reset) ends
   * this connection only: the error is its close reason, and it never reaches the caller,
   * which may be a microtask or another connection's handler.
   */
  #write(conn: EngineConnection, bytes: Uint8Array): void {
    if (conn.closed || conn.stream.closed) return;
    try {
      conn.stream.write(bytes);
    } catch (error) {
      this.countError((error as { code?: string }).code ?? "EPIPE");
      this.abort(conn, error as Error);
      return;
    }
    conn.bufferedAtLastWrite = conn.stream.bufferedAmount;
  }

  #onClose(conn: EngineConnection, error?: NetError): void {
    if (conn.closed) return;
    conn.closed = true;
    this.connections.delete(conn);
    this.stats.connections--;
    const dropped = conn.pending;
    if (dropped > 0) {
      this.stats.queueDepth -= dropped;
      this.stats.abortedFrames += dropped;
      conn.queue.clear();
      this.event({ type: "aborted", connectionId: conn.id, frames: dropped });
    }
    const reason = conn.closeReason ?? error;
    if (error) this.countError(error.code);
    this.event({ type: "close", connectionId: conn.id, error: reason });
    try {
      this.options.onClose?.(conn, reason);
    } catch {
      this.countError("EHANDLER");
    }
    this.#pump();
  }

  startIdleSweep(): void {
    const idle = this.options.idleTimeoutMs;
    if (idle === undefined) return;
    this.#idleTimer = setInterval(() => {
      const now = this.now();
      for (const conn of this.connections) {
        if (now - conn.lastActivity >= idle && !conn.closed) {
          const error = new NetError(
            "ETIMEDOUT",
            `Connection ${conn.id} was idle for ${now - conn.lastActivity} ms, past the idle timeout of ${idle} ms`,
          );
          this.countError("ETIMEDOUT");
          this.event({ type: "idle", connectionId: conn.id, error });
          this.abort(conn, error);
        }
      }
    }, Math.max(10, Math.floor(idle / 4)));
  }

  #notifyIdle(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * Lets the connections finish what their clients already sent: frames in the sockets'
   * receive buffers are read and answered until no byte arrived for a quiet period and no
   * frame is queued or running, or until the deadline.
   */
  async #drain(deadline: number): Promise<void> {
    while (this.connections.size > 0 || this.stats.queueDepth > 0 || this.stats.busyWorkers > 0) {
      const left = deadline - this.now();
      if (left <= 0) return;
      const bytesBefore = this.stats.bytesIn;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const busy = this.stats.queueDepth > 0 || this.stats.busyWorkers > 0;
      await new Promise<void>((resolve) => {
        if (busy) this.#idleWaiters.push(resolve);
        timer = setTimeout(resolve, Math.min(left, DRAIN_QUIET_MS));
      });
      clearTimeout(timer);
      if (!busy && this.stats.bytesIn === bytesBefore && this.stats.queueDepth === 0 && this.stats.busyWorkers === 0) {
        return;
      }
    }
  }

  async shutdown(listener: Listener, mode: "drain" | "abort", timeoutMs: number): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    await listener.close();
    if (this.#idleTimer !== undefined) clearInterval(this.#idleTimer);
    if (mode === "drain") await this.#drain(this.now() + timeoutMs);
    // Whatever is still queued now is aborted, and reported.
    const conns = [...this.connections];
    let dropped = 0;
    for (const conn of conns) {
      dropped += conn.pending;
      this.stats.queueDepth -= conn.pending;
      conn.queue.clear();
    }
    if (dropped > 0) {
      this.stats.abortedFrames += dropped;
      this.event({ type: "aborted", frames: dropped });
    }
    await Promise.all(conns.map((c) => {
      this.#flushOut(c);
      c.writeEnded = true;
      return c.stream.close();
    }));
    await this.pool?.close();
  }
}

/**
 * Starts a server.
 *
 * @example
 * ```ts
 * import { serve } from "sockmodels/engine";
 * import { lengthPrefixed } from "sockmodels/framing";
 * const server = await serve({
 *   port: 9000,
 *   framer: lengthPrefixed({ lengthFieldLength: 4 }),
 *   onMessage(conn, frame) {
 *     conn.send(frame); // echo
 *   },
 * });
 * ```
 */
export async function serve(options: ServeOptions): Promise<Server> {
  const engine = new Engine(options);
  const transport = options.transport ?? await defaultTransport();
  const listener = await transport.listen({
    hostname: options.host ?? "127.0.0.1",
    port: options.port,
    allowHalfOpen: true,
    ...(options.tls ? { tls: options.tls } : {}),
    onAccept: (stream) => engine.accept(stream),
  });
  engine.startIdleSweep();
  let closing: Promise<void> | undefined;
  const close = (opts: { mode?: "drain" | "abort"; timeoutMs?: number } = {}) =>
    closing ??= engine.shutdown(listener, opts.mode ?? "drain", opts.timeoutMs ?? 5000);
  const onAbort = () => void close({ mode: "abort" });
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) await close({ mode: "abort" });
  const server: Server = {
    addr: listener.addr,
    stats: engine.stats,
    close(opts) {
      options.signal?.removeEventListener("abort", onAbort);
      return close(opts);
    },
    [Symbol.asyncDispose]: () => server.close(),
  };
  return server;
}

/** Frames up to this size are batched by copying; larger ones are written without a copy. */
const BATCH_FRAME_LIMIT = 4096;
/** A graceful shutdown closes connections once no byte arrived for this long. */
const DRAIN_QUIET_MS = 50;
/** The largest batch buffer a connection allocates. */
const BATCH_SIZE = 16 * 1024;
/** The first batch buffer of a connection. */
const FIRST_BATCH_SIZE = 1024;
/** Room for a frame's header and trailer beside its payload. */
const BATCH_HEADROOM = 32;
/** A flushed batch buffer with less than this left is let go. */
const MIN_BATCH_REST = 256;
/** The slab small batches are carved from. */
const SLAB_SIZE = 16 * 1024;
