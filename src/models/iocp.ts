/**
 * Overlapped I/O and the I/O completion port, as the seeds use them: start an operation
 * (`postRecv`, `postSend`, `postAccept`, `postConnect`, …) and collect its completion packet
 * later with `getQueuedCompletionStatus`. A buffer handed to an operation belongs to it until
 * the completion comes back; closing a socket or `cancelIo` completes its pending operations
 * with WSA_OPERATION_ABORTED (995); completions come out in FIFO order; at most `concurrency`
 * workers run at once, and waiting workers are woken last-in-first-out.
 *
 * @module
 */

import { NetError } from "../runtime/errors.ts";
import { ListenerCore, SocketCore, type SocketCoreOptions } from "../core/socket_core.ts";
import { availableParallelism, defaultTransport } from "../runtime/detect.ts";
import type { Addr, DatagramSocket, Transport } from "../runtime/types.ts";
import { WAIT_TIMEOUT } from "./event_select.ts";
import { tryRecvFrom, type WouldBlock } from "./nonblocking.ts";
import { aborted, OverlappedHandle, PendingOp, removeOps, WSA_OPERATION_ABORTED } from "./_overlapped_handle.ts";

export { OverlappedHandle };

/** WSA_OPERATION_ABORTED: the operation was cancelled (closesocket or CancelIoEx). */
export { WSA_OPERATION_ABORTED } from "./_overlapped_handle.ts";
/** WAIT_TIMEOUT (258): `getQueuedCompletionStatus` timed out, the same code as WSAEventSelect's wait. */
export { WAIT_TIMEOUT } from "./event_select.ts";
/** ERROR_ABANDONED_WAIT_0: the completion port was closed while waiting. */
export const ERROR_ABANDONED_WAIT_0 = 735;

/**
 * The per-operation context the caller passes in and gets back with the completion, like the
 * seeds' `PerIo` structure that embeds an OVERLAPPED. Any object will do.
 *
 * @example
 * ```ts
 * interface PerIo extends Overlapped { op: "recv" | "send"; buffer: Uint8Array }
 * ```
 */
// deno-lint-ignore no-empty-interface
export interface Overlapped {}

/**
 * One completion packet.
 *
 * @example
 * ```ts
 * import type { CompletionPort } from "sockmodels/iocp";
 * declare const port: CompletionPort;
 * const status = await port.getQueuedCompletionStatus({ timeoutMs: 1000 });
 * if (status.timedOut) console.log("nothing yet");
 * else if (!status.ok) console.log("failed with", status.errorCode);
 * ```
 */
export interface CompletionStatus<K = unknown, O extends Overlapped = Overlapped> {
  /** True when the operation succeeded. */
  ok: boolean;
  /** Bytes received or sent (0 for a receive at end of stream). */
  bytesTransferred: number;
  /** The completion key given to `associate` (or to `postQueuedCompletionStatus`). */
  key: K | undefined;
  /** The operation's context, or null for a timeout. */
  overlapped: O | null;
  /** 0 on success, else a Winsock number (995 aborted, 258 timeout, 10054 reset, …). */
  errorCode: number;
  /** The error, when the operation failed. */
  error?: NetError;
  /** The accepted or connected socket, for `postAccept` and `postConnect`. */
  socket?: OverlappedSocket;
  /** The sender's address, for `postRecvFrom`. */
  from?: Addr;
  /** True when the wait timed out and no packet was dequeued. */
  timedOut?: boolean;
}

/**
 * Options for the waits.
 *
 * @example
 * ```ts
 * const opts: CompletionWaitOptions = { timeoutMs: 500 };
 * ```
 */
export interface CompletionWaitOptions {
  /** Milliseconds to wait; undefined waits forever (INFINITE), 0 polls. */
  timeoutMs?: number;
  /** Stops waiting; the wait resolves as a timeout with an ECANCELED error. */
  signal?: AbortSignal;
}

/**
 * What a completion port can be associated with: a socket, a listener or a datagram socket
 * opened for overlapped I/O.
 *
 * @example
 * ```ts
 * declare const port: CompletionPort;
 * declare const handle: CompletionHandle;
 * port.associate(handle, "key");
 * ```
 */
export type CompletionHandle = OverlappedSocket | OverlappedListener | OverlappedDatagram;

/** What an idle socket's `#sends` is: shared, never written to. */
const NO_SENDS: PendingOp[] = Object.freeze([]) as unknown as PendingOp[];

/**
 * A connected socket opened for overlapped I/O.
 *
 * @example
 * ```ts
 * import type { CompletionPort } from "sockmodels/iocp";
 * declare const port: CompletionPort;
 * const status = await port.getQueuedCompletionStatus();
 * status.socket?.close(); // pending operations complete with WSA_OPERATION_ABORTED
 * ```
 */
export class OverlappedSocket extends OverlappedHandle {
  /** The socket's state. */
  readonly core: SocketCore;
  #recvs: PendingOp[] = [];
  /** The sends posted and not yet completed; NO_SENDS (not an array of its own) when none. */
  #sends: PendingOp[] = NO_SENDS;
  #flushing = false;
  #closed = false;

  /** Wraps a connected core. */
  constructor(core: SocketCore) {
    super();
    this.core = core;
    // The socket is its own watcher: no closure per connection.
    core.addWatcher(this);
  }

  /** @internal Called by the core after every change that may affect its readiness. */
  readinessChanged(): void {
    this.#serviceRecvs();
  }

  /** The local address. */
  get localAddr(): Addr | undefined {
    return this.core.stream?.localAddr;
  }

  /** The peer's address. */
  get remoteAddr(): Addr | undefined {
    return this.core.stream?.remoteAddr;
  }

  /**
   * A non-blocking recv (the socket put in non-blocking mode with `ioctlsocket(FIONBIO)`): the
   * count copied into `buffer`, 0 at end of stream, or `WOULD_BLOCK`. A server reads this way
   * after a zero-byte WSARecv completes. Throws the connection's error.
   */
  tryRecv(buffer: Uint8Array): number | WouldBlock {
    return tryRecvFrom(this.core, buffer);
  }

  /** @internal */
  _postRecv(port: CompletionPort, buffer: Uint8Array, overlapped: Overlapped): void {
    if (this.#closed) throw new NetError("ENOTCONN", "Cannot post a receive: the socket is closed");
    this.#recvs.push(new PendingOp(this, port, overlapped, buffer));
    this.#serviceRecvs();
  }

  #serviceRecvs(): void {
    const core = this.core;
    while (this.#recvs.length > 0) {
      if (core.available > 0) {
        const op = this.#recvs.shift()!;
        // A zero-byte receive only says that data is there; it takes none.
        const n = op.buffer.byteLength === 0 ? 0 : core.read(op.buffer);
        op.complete({ ok: true, bytesTransferred: n, errorCode: 0 });
      } else if (core.error) {
        const op = this.#recvs.shift()!;
        op.complete({ ok: false, errorCode: core.error.winsockCode, error: core.error });
      } else if (core.eof) {
        const op = this.#recvs.shift()!;
        op.complete({ ok: true, bytesTransferred: 0, errorCode: 0 });
      } else {
        return;
      }
    }
  }

  /** @internal */
  _postSend(port: CompletionPort, bytes: Uint8Array, overlapped: Overlapped): void {
    if (this.#closed) throw new NetError("ENOTCONN", "Cannot post a send: the socket is closed");
    const size = bytes.byteLength;
    const op = new PendingOp(this, port, overlapped, undefined, size);
    try {
      this.core.write(bytes);
    } catch (error) {
      const e = error as NetError;
      op.complete({ ok: false, errorCode: e.winsockCode ?? 10057, error: e });
      return;
    }
    if (this.#sends === NO_SENDS) this.#sends = [op];
    else this.#sends.push(op);
    this.#flushSends();
  }

  // One flush covers every send posted before it resolves: the stream's queue is FIFO, so an
  // empty queue means all of them reached the OS.
  #flushSends(): void {
    if (this.#flushing) return;
    const stream = this.core.stream;
    if (!stream) return;
    this.#flushing = true;
    stream.flush().then(
      () => {
        this.#flushing = false;
        const done = this.#sends;
        this.#sends = NO_SENDS;
        for (const op of done) op.complete({ ok: true, bytesTransferred: op.bytes, errorCode: 0 });
      },
      (error: NetError) => {
        this.#flushing = false;
        const failed = this.#sends;
        this.#sends = NO_SENDS;
        for (const op of failed) op.complete({ ok: false, errorCode: error.winsockCode ?? 10054, error });
      },
    );
  }

  /** @internal */
  _cancel(overlapped?: Overlapped): number {
    return removeOps(this.#recvs, overlapped, "receive");
  }

  /** shutdown(SD_SEND): FIN after the queued bytes. */
  shutdown(): void {
    this.core.shutdown();
  }

  /**
   * closesocket: every pending receive completes with WSA_OPERATION_ABORTED. If sends are
   * still pending they complete aborted too and the connection is reset, so that an aborted
   * send never reaches the peer unannounced; otherwise the close is graceful.
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this._cancel();
    if (this.#sends.length > 0) {
      const pending = this.#sends;
      this.#sends = NO_SENDS;
      this.core.reset();
      for (const op of pending) op.complete({ ok: false, errorCode: WSA_OPERATION_ABORTED, error: aborted("send") });
      return Promise.resolve();
    }
    return this.core.close();
  }

  /** Aborts the connection; pending operations complete aborted. */
  reset(): void {
    this.#closed = true;
    this._cancel();
    const pending = this.#sends;
    this.#sends = NO_SENDS;
    this.core.reset();
    for (const op of pending) op.complete({ ok: false, errorCode: WSA_OPERATION_ABORTED, error: aborted("send") });
  }
}

/**
 * A listening socket for `postAccept` (AcceptEx).
 *
 * @example
 * ```ts
 * import { type CompletionPort, OverlappedListener } from "sockmodels/iocp";
 * declare const port: CompletionPort;
 * const listener = await OverlappedListener.listen({ port: 9000 });
 * port.associate(listener, "listener");
 * for (let i = 0; i < 16; i++) port.postAccept(listener, { op: "accept" });
 * ```
 */
export class OverlappedListener extends OverlappedHandle {
  /** The listener's state. */
  readonly core: ListenerCore;
  #accepts: PendingOp[] = [];

  /** Wraps a listening core. */
  constructor(core: ListenerCore) {
    super();
    this.core = core;
    core.addWatcher(() => this.#serviceAccepts());
  }

  /** Binds and listens. */
  static async listen(
    options: SocketCoreOptions & { transport?: Transport; hostname?: string; port: number; backlog?: number },
  ): Promise<OverlappedListener> {
    const transport = options.transport ?? await defaultTransport();
    return new OverlappedListener(await ListenerCore.listen(transport, options));
  }

  /** The bound address. */
  get addr(): Addr {
    return this.core.addr;
  }

  /** @internal */
  _postAccept(port: CompletionPort, overlapped: Overlapped): void {
    if (this.core.isClosed) throw new NetError("ENOTCONN", "Cannot post an accept: the listener is closed");
    this.#accepts.push(new PendingOp(this, port, overlapped));
    this.#serviceAccepts();
  }

  #serviceAccepts(): void {
    while (this.#accepts.length > 0) {
      const core = this.core.accept();
      if (!core) return;
      const op = this.#accepts.shift()!;
      op.complete({ ok: true, bytesTransferred: 0, errorCode: 0, socket: new OverlappedSocket(core) });
    }
  }

  /** @internal */
  _cancel(overlapped?: Overlapped): number {
    return removeOps(this.#accepts, overlapped, "accept");
  }

  /** Stops listening; pending accepts complete with WSA_OPERATION_ABORTED. */
  close(): Promise<void> {
    this._cancel();
    return this.core.close();
  }
}

/**
 * A UDP socket for `postRecvFrom` and `postSendTo`.
 *
 * @example
 * ```ts
 * import { type CompletionPort, OverlappedDatagram } from "sockmodels/iocp";
 * declare const port: CompletionPort;
 * const udp = await OverlappedDatagram.create({ port: 0 });
 * port.associate(udp, "udp");
 * port.postRecvFrom(udp, new Uint8Array(1500), { op: "recvfrom" });
 * ```
 */
export class OverlappedDatagram extends OverlappedHandle {
  #socket!: DatagramSocket;
  #inbox: { bytes: Uint8Array; from: Addr }[] = [];
  #recvs: PendingOp[] = [];
  #closed = false;

  private constructor() {
    super();
  }

  /** Binds a UDP socket. */
  static async create(
    options: { transport?: Transport; hostname?: string; port: number },
  ): Promise<OverlappedDatagram> {
    const transport = options.transport ?? await defaultTransport();
    const d = new OverlappedDatagram();
    d.#socket = await transport.bindDatagram({
      hostname: options.hostname,
      port: options.port,
      onMessage: (bytes, from) => {
        d.#inbox.push({ bytes, from });
        d.#service();
      },
    });
    return d;
  }

  /** The bound address. */
  get addr(): Addr {
    return this.#socket.addr;
  }

  #service(): void {
    while (this.#recvs.length > 0 && this.#inbox.length > 0) {
      const op = this.#recvs.shift()!;
      const { bytes, from } = this.#inbox.shift()!;
      // As with WSARecvFrom, a datagram larger than the buffer is truncated (WSAEMSGSIZE).
      const n = Math.min(bytes.byteLength, op.buffer.byteLength);
      op.buffer.set(bytes.subarray(0, n));
      if (n < bytes.byteLength) {
        const error = new NetError(
          "EMSGSIZE",
          `A ${bytes.byteLength}-byte datagram did not fit the ${op.buffer.byteLength}-byte buffer`,
        );
        op.complete({ ok: false, bytesTransferred: n, errorCode: error.winsockCode, error, from });
      } else {
        op.complete({ ok: true, bytesTransferred: n, errorCode: 0, from });
      }
    }
  }

  /** @internal */
  _postRecvFrom(port: CompletionPort, buffer: Uint8Array, overlapped: Overlapped): void {
    if (this.#closed) throw new NetError("ENOTCONN", "Cannot post a receive: the datagram socket is closed");
    this.#recvs.push(new PendingOp(this, port, overlapped, buffer));
    this.#service();
  }

  /** @internal */
  _postSendTo(
    port: CompletionPort,
    bytes: Uint8Array,
    to: { hostname: string; port: number },
    overlapped: Overlapped,
  ): void {
    if (this.#closed) throw new NetError("ENOTCONN", "Cannot post a send: the datagram socket is closed");
    this.#socket.send(bytes, to).then(
      () => port._complete(this.key, overlapped, { ok: true, bytesTransferred: bytes.byteLength, errorCode: 0 }),
      (error: NetError) => port._complete(this.key, overlapped, { ok: false, errorCode: error.winsockCode, error }),
    );
  }

  /** @internal */
  _cancel(overlapped?: Overlapped): number {
    return removeOps(this.#recvs, overlapped, "receive");
  }

  /** Closes; pending receives complete with WSA_OPERATION_ABORTED. */
  close(): Promise<void> {
    this.#closed = true;
    this._cancel();
    return this.#socket.close();
  }
}

interface Waiter {
  worker: PortWorker | undefined;
  max: number;
  resolve(statuses: CompletionStatus[]): void;
  timer?: ReturnType<typeof setTimeout>;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/**
 * A worker bound to a port, like a thread that calls GetQueuedCompletionStatus in a loop. The
 * port counts it as running from the moment it gets a packet until it waits again, or while
 * it is inside `blocking(...)`, which frees its slot as a thread blocked in a wait would.
 *
 * @example
 * ```ts
 * import type { CompletionPort, CompletionStatus } from "sockmodels/iocp";
 * declare const port: CompletionPort;
 * declare const saveToDisk: (status: CompletionStatus) => Promise<void>;
 * const EXIT = "exit"; // the key of the exit packet: port.postQueuedCompletionStatus(0, EXIT)
 * const worker = port.worker();
 * while (true) {
 *   const status = await worker.getQueuedCompletionStatus();
 *   if (status.key === EXIT) break;
 *   await worker.blocking(saveToDisk(status)); // frees the slot while waiting
 * }
 * worker.release();
 * ```
 */
export class PortWorker {
  /** A port-unique worker number. */
  readonly id: number;
  #port: CompletionPort;
  /** @internal */
  _active = false;

  /** @internal */
  constructor(port: CompletionPort, id: number) {
    this.#port = port;
    this.id = id;
  }

  /** Waits for one packet; the worker stops counting as running while it waits. */
  async getQueuedCompletionStatus(options: CompletionWaitOptions = {}): Promise<CompletionStatus> {
    const [status] = await this.#port._wait(this, 1, options);
    return status;
  }

  /** Waits for up to `maxEntries` packets at once (GetQueuedCompletionStatusEx). */
  getQueuedCompletionStatusEx(maxEntries: number, options: CompletionWaitOptions = {}): Promise<CompletionStatus[]> {
    return this.#port._wait(this, maxEntries, options);
  }

  /** Awaits `promise` without holding a running slot. */
  async blocking<T>(promise: Promise<T>): Promise<T> {
    this.#port._deactivate(this);
    try {
      return await promise;
    } finally {
      // Like a thread that wakes up from a wait: it runs again, even above the concurrency
      // limit for a moment, as Windows allows.
      this.#port._activate(this);
    }
  }

  /** Stops counting as running (call when the worker leaves its loop). */
  release(): void {
    this.#port._deactivate(this);
  }
}

/**
 * An I/O completion port.
 *
 * @example
 * ```ts
 * import { CompletionPort, OverlappedListener } from "sockmodels/iocp";
 * const port = new CompletionPort({ concurrency: 0 }); // 0: the number of CPUs
 * const listener = await OverlappedListener.listen({ port: 9000 });
 * port.associate(listener, "listener");
 * port.postAccept(listener, { op: "accept" });
 * const status = await port.getQueuedCompletionStatus();
 * ```
 */
export class CompletionPort {
  /** At most this many workers run at once. */
  readonly concurrency: number;
  #queue: CompletionStatus[] = [];
  #head = 0;
  #waiters: Waiter[] = [];
  #active = 0;
  #nextWorker = 0;
  #closed = false;

  /** Creates a port; `concurrency` 0 (the default) means the number of CPUs. */
  constructor(options: { concurrency?: number } = {}) {
    const c = options.concurrency ?? 0;
    if (!Number.isInteger(c) || c < 0) {
      throw new RangeError(`Concurrency must be a non-negative integer, got ${c}`);
    }
    this.concurrency = c === 0 ? availableParallelism() : c;
  }

  /** Packets waiting to be dequeued. */
  get queueLength(): number {
    return this.#queue.length - this.#head;
  }

  /** Workers counted as running now. */
  get activeWorkers(): number {
    return this.#active;
  }

  /** CreateIoCompletionPort(handle, port, key): completions of `handle` carry `key`. */
  associate(handle: CompletionHandle, key: unknown): void {
    if (this.#closed) throw new TypeError("Cannot associate: the completion port is closed");
    handle._associate(this, key);
  }

  /** A worker whose running state the port tracks (see {@linkcode PortWorker}). */
  worker(): PortWorker {
    return new PortWorker(this, ++this.#nextWorker);
  }

  /** AcceptEx: completes with `status.socket` once a connection is accepted. */
  postAccept(listener: OverlappedListener, overlapped: Overlapped): void {
    listener._requirePort("post an accept");
    listener._postAccept(this, overlapped);
  }

  /**
   * ConnectEx: connects a new socket, associated with `key`, and completes with
   * `status.socket`, or fails with the connect error (10061 refused, 10060 timed out, …).
   */
  postConnect(
    addr: { hostname: string; port: number; timeoutMs?: number; transport?: Transport } & SocketCoreOptions,
    overlapped: Overlapped,
    key?: unknown,
  ): void {
    if (this.#closed) throw new TypeError("Cannot post a connect: the completion port is closed");
    (async () => {
      const transport = addr.transport ?? await defaultTransport();
      const core = SocketCore.connect(transport, addr.hostname, addr.port, addr);
      try {
        await core.connected();
      } catch (error) {
        const e = error as NetError;
        this._complete(key, overlapped, { ok: false, errorCode: e.winsockCode, error: e });
        return;
      }
      const socket = new OverlappedSocket(core);
      socket._associate(this, key);
      this._complete(key, overlapped, { ok: true, bytesTransferred: 0, errorCode: 0, socket });
    })();
  }

  /**
   * WSARecv: completes once bytes arrive, with `bytesTransferred` bytes written into
   * `buffer` (0 at end of stream). `buffer` belongs to the operation until then.
   *
   * An empty `buffer` posts a zero-byte receive: it completes with 0 bytes once data, the end
   * of the stream or an error is there, and takes nothing, so that no buffer is pinned while
   * the client is quiet. The server then reads what came with {@linkcode OverlappedSocket.tryRecv}
   * into a buffer all clients share, and tells data from the end of the stream by its result.
   */
  postRecv(socket: OverlappedSocket, buffer: Uint8Array, overlapped: Overlapped): void {
    socket._requirePort("post a receive");
    socket._postRecv(this, buffer, overlapped);
  }

  /**
   * WSASend: completes when all of `bytes` have been handed to the OS. `bytes` belongs to the
   * operation until then.
   */
  postSend(socket: OverlappedSocket, bytes: Uint8Array, overlapped: Overlapped): void {
    socket._requirePort("post a send");
    socket._postSend(this, bytes, overlapped);
  }

  /** WSARecvFrom: completes with one datagram in `buffer` and `status.from`. */
  postRecvFrom(socket: OverlappedDatagram, buffer: Uint8Array, overlapped: Overlapped): void {
    socket._requirePort("post a receive");
    socket._postRecvFrom(this, buffer, overlapped);
  }

  /** WSASendTo: completes once the datagram was sent. */
  postSendTo(
    socket: OverlappedDatagram,
    bytes: Uint8Array,
    to: { hostname: string; port: number },
    overlapped: Overlapped,
  ): void {
    socket._requirePort("post a send");
    socket._postSendTo(this, bytes, to, overlapped);
  }

  /** CancelIoEx: completes the handle's pending operations (or just `overlapped`) aborted. */
  cancelIo(handle: CompletionHandle, overlapped?: Overlapped): number {
    return handle._cancel(overlapped);
  }

  /** PostQueuedCompletionStatus: queues a user packet, such as an exit packet. */
  postQueuedCompletionStatus(bytesTransferred: number, key: unknown, overlapped: Overlapped | null = null): void {
    if (this.#closed) throw new TypeError("Cannot post: the completion port is closed");
    this.#enqueue({ ok: true, bytesTransferred, key, overlapped, errorCode: 0 });
  }

  /** GetQueuedCompletionStatus for a caller that is not a {@linkcode PortWorker}. */
  async getQueuedCompletionStatus(options: CompletionWaitOptions = {}): Promise<CompletionStatus> {
    const [status] = await this._wait(undefined, 1, options);
    return status;
  }

  /** GetQueuedCompletionStatusEx: up to `maxEntries` packets; empty on timeout. */
  getQueuedCompletionStatusEx(maxEntries: number, options: CompletionWaitOptions = {}): Promise<CompletionStatus[]> {
    return this._wait(undefined, maxEntries, options);
  }

  /** Closes the port: every waiter returns with ERROR_ABANDONED_WAIT_0. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) {
      this.#clearWaiter(w);
      w.resolve([this.#abandoned()]);
    }
  }

  #abandoned(): CompletionStatus {
    return {
      ok: false,
      bytesTransferred: 0,
      key: undefined,
      overlapped: null,
      errorCode: ERROR_ABANDONED_WAIT_0,
      error: new NetError("ECANCELED", "The completion port was closed"),
    };
  }

  /** @internal */
  _complete(key: unknown, overlapped: Overlapped, status: Partial<CompletionStatus> & { ok: boolean }): void {
    if (this.#closed) return;
    this.#enqueue({
      bytesTransferred: 0,
      errorCode: 0,
      ...status,
      key,
      overlapped,
    });
  }

  #enqueue(status: CompletionStatus): void {
    this.#queue.push(status);
    this.#dispatch();
  }

  #take(max: number): CompletionStatus[] {
    const n = Math.min(max, this.#queue.length - this.#head);
    const out = this.#queue.slice(this.#head, this.#head + n);
    this.#head += n;
    if (this.#head === this.#queue.length) {
      this.#queue.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#head);
      this.#head = 0;
    }
    return out;
  }

  // Hands queued packets to waiting callers, newest waiter first, while running slots last.
  #dispatch(): void {
    while (this.queueLength > 0 && this.#waiters.length > 0) {
      let index = this.#waiters.length - 1;
      if (this.#active >= this.concurrency) {
        // Only callers outside the worker accounting may take a packet now.
        while (index >= 0 && this.#waiters[index].worker !== undefined) index--;
        if (index < 0) return;
      }
      const [waiter] = this.#waiters.splice(index, 1);
      this.#clearWaiter(waiter);
      if (waiter.worker) this._activate(waiter.worker);
      waiter.resolve(this.#take(waiter.max));
    }
  }

  #clearWaiter(w: Waiter): void {
    if (w.timer !== undefined) clearTimeout(w.timer);
    if (w.onAbort) w.signal?.removeEventListener("abort", w.onAbort);
  }

  /** @internal */
  _activate(worker: PortWorker): void {
    if (!worker._active) {
      worker._active = true;
      this.#active++;
    }
  }

  /** @internal */
  _deactivate(worker: PortWorker): void {
    if (worker._active) {
      worker._active = false;
      this.#active--;
      this.#dispatch();
    }
  }

  /** @internal */
  _wait(worker: PortWorker | undefined, max: number, options: CompletionWaitOptions): Promise<CompletionStatus[]> {
    if (!Number.isInteger(max) || max < 1) {
      return Promise.reject(new RangeError(`Max entries must be a positive integer, got ${max}`));
    }
    // The caller stops running but gets the first look at queued packets: the thread that
    // is already awake is the one the port prefers.
    if (worker?._active) {
      worker._active = false;
      this.#active--;
    }
    if (this.#closed) return Promise.resolve([this.#abandoned()]);
    if (this.queueLength > 0 && (worker === undefined || this.#active < this.concurrency)) {
      if (worker) this._activate(worker);
      return Promise.resolve(this.#take(max));
    }
    const { timeoutMs, signal } = options;
    const timedOut = (error?: NetError): CompletionStatus[] =>
      max > 1 && !error ? [] : [{
        ok: false,
        bytesTransferred: 0,
        key: undefined,
        overlapped: null,
        errorCode: error ? error.winsockCode : WAIT_TIMEOUT,
        error: error ?? new NetError("ETIMEDOUT", `No completion arrived within ${timeoutMs} ms`),
        timedOut: true,
      }];
    if (timeoutMs === 0) return Promise.resolve(timedOut());
    return new Promise<CompletionStatus[]>((resolve) => {
      const waiter: Waiter = { worker, max, resolve, signal };
      const giveUp = (error?: NetError) => {
        const i = this.#waiters.indexOf(waiter);
        if (i < 0) return;
        this.#waiters.splice(i, 1);
        this.#clearWaiter(waiter);
        resolve(timedOut(error));
      };
      if (timeoutMs !== undefined) waiter.timer = setTimeout(() => giveUp(), timeoutMs);
      if (signal) {
        if (signal.aborted) {
          return resolve(timedOut(new NetError("ECANCELED", "The wait for a completion was cancelled")));
        }
        waiter.onAbort = () => giveUp(new NetError("ECANCELED", "The wait for a completion was cancelled"));
        signal.addEventListener("abort", waiter.onAbort, { once: true });
      }
      this.#waiters.push(waiter);
      this.#dispatch();
    });
  }
}
