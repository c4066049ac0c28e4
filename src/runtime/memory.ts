/**
 * The in-memory transport: streams inside one process with the full adapter contract, and
 * fault injection for tests and large-scale simulation: small chunks (down to 1 byte),
 * latency, a receive window that fills so `write` returns false, resets, half-closes, and
 * listeners that never accept. Handlers that take loaned chunks get them in one reused buffer
 * that is overwritten with 0xa5 once `onData` returns, so a consumer that keeps a loaned chunk
 * without copying it sees garbage.
 *
 * @module
 */

import { formatHostPort, NetError } from "./errors.ts";
import { StreamBase } from "./stream_base.ts";

export { StreamBase };
import type {
  Addr,
  ConnectOptions,
  DatagramOptions,
  DatagramSocket,
  Listener,
  ListenOptions,
  Stream,
  StreamOptions,
  Transport,
  TransportCapabilities,
} from "./types.ts";
import { checkListenOptions, checkPort, connectDeadline, familyOf } from "./util.ts";

/**
 * The faults a memory transport injects into every connection it makes.
 *
 * @example
 * ```ts
 * const faults: MemoryFaults = { chunkSize: 1, latencyMs: 5, receiveWindow: 4096 };
 * ```
 */
export interface MemoryFaults {
  /** The most bytes one `onData` call carries. 1 delivers byte by byte. Default: unlimited. */
  chunkSize?: number;
  /** One-way delay of every delivery, in milliseconds. Default 0. */
  latencyMs?: number;
  /**
   * Bytes a receiver holds before the sender stalls, like a socket's receive buffer. A peer
   * that does not read makes `write` return false once this and the high water mark fill.
   * Default 256 KiB.
   */
  receiveWindow?: number;
}

/**
 * Listen options of the memory transport.
 *
 * @example
 * ```ts
 * import { createMemoryTransport } from "sockmodels/runtime/memory";
 * const memory = createMemoryTransport();
 * await memory.listen({ port: 0, neverAccept: true, onAccept() {} });
 * ```
 */
export interface MemoryListenOptions extends ListenOptions {
  /** Never complete a connection, like a listener whose SYNs are dropped. */
  neverAccept?: boolean;
}

interface PendingAttempt {
  refuse(): void;
}

let nextEphemeralPort = 49152;

function allocatePort(inUse: (port: number) => boolean): number {
  for (let i = 0; i < 16384; i++) {
    const port = nextEphemeralPort;
    nextEphemeralPort = nextEphemeralPort >= 65535 ? 49152 : nextEphemeralPort + 1;
    if (!inUse(port)) return port;
  }
  throw new NetError("EADDRNOTAVAIL", "No free ephemeral port is left in the memory transport");
}

const END_OF_STREAM = null;
const EMPTY_LOAN = new Uint8Array(0);

/**
 * One end of an in-memory connection.
 *
 * @example
 * ```ts
 * import { createMemoryTransport } from "sockmodels/runtime/memory";
 * const memory = createMemoryTransport();
 * const listener = await memory.listen({ port: 0, onAccept: (s) => s.setHandlers({}) });
 * const stream = await memory.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * (stream as MemoryStream).injectReset(); // both ends close with ECONNRESET
 * ```
 */
export class MemoryStream extends StreamBase {
  /** This end's address. */
  readonly localAddr: Addr;
  /** The other end's address. */
  readonly remoteAddr: Addr;
  /** The other end. */
  peer!: MemoryStream;
  #faults: Required<MemoryFaults>;
  #inbox: (Uint8Array | null)[] = [];
  #inboxHead = 0;
  #inboxBytes = 0;
  #inTransit = 0;
  #reading = false;
  #deliveryTimer: ReturnType<typeof setTimeout> | undefined;
  /** The buffer that loaned chunks are handed in (see `#hand`). */
  #loanBuffer = EMPTY_LOAN;
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #gone = false;

  /** One end of an in-process connection, with the faults it injects. */
  constructor(localAddr: Addr, remoteAddr: Addr, faults: Required<MemoryFaults>, options: StreamOptions) {
    super(options);
    this.localAddr = localAddr;
    this.remoteAddr = remoteAddr;
    this.#faults = faults;
  }

  /** Resets the connection as a network failure would: both ends close with ECONNRESET. */
  injectReset(): void {
    const error = () =>
      new NetError("ECONNRESET", "The connection was reset (injected by the memory transport)", {
        syscall: "read",
      });
    const peer = this.peer;
    this._fail(error());
    peer._fail(error());
  }

  /** Makes the peer half-close its sending side now: this end sees `onEnd` after pending data. */
  injectHalfClose(): void {
    this.peer.end();
  }

  /** Moves queued bytes to the peer as far as its receive window allows. */
  protected override _pump(): void {
    const peer = this.peer;
    const window = this.#faults.receiveWindow;
    while (!peer.#gone) {
      const room = window - peer.#inboxBytes - peer.#inTransit;
      if (room <= 0) break;
      let chunk = this._takeChunk();
      if (chunk === undefined) break;
      if (chunk.byteLength > room) {
        this._unshiftChunk(chunk.subarray(room));
        chunk = chunk.subarray(0, room);
      }
      // Like a kernel send buffer, the transport keeps its own copy: once the sender's bytes
      // count as sent, the sender may reuse its buffer.
      peer.#receive(chunk.slice());
    }
    if (peer.#gone && this._queuedBytes > 0) {
      this._fail(
        new NetError("ECONNRESET", "The peer closed while data was still being sent", {
          syscall: "write",
        }),
      );
      return;
    }
    this._progress();
  }

  /** Bytes (or the FIN) from the peer enter this end, after the configured latency. */
  #receive(chunk: Uint8Array | null): void {
    const size = chunk === END_OF_STREAM ? 0 : chunk.byteLength;
    const latency = this.#faults.latencyMs;
    if (latency > 0) {
      this.#inTransit += size;
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        this.#inTransit -= size;
        this.#arrive(chunk, size);
      }, latency);
      this.#timers.add(timer);
    } else {
      this.#arrive(chunk, size);
    }
  }

  #arrive(chunk: Uint8Array | null, size: number): void {
    if (this.#gone) return;
    this.#inbox.push(chunk);
    this.#inboxBytes += size;
    this.#scheduleDelivery();
  }

  #scheduleDelivery(): void {
    if (this.#deliveryTimer !== undefined || !this.#reading || this.#gone) return;
    // A macrotask, not a microtask: two memory peers echoing to each other must not starve
    // the event loop's timers.
    this.#deliveryTimer = setTimeout(this.#deliver, 0);
  }

  #deliver = (): void => {
    this.#deliveryTimer = undefined;
    const limit = this.#faults.chunkSize;
    let consumed = 0;
    while (this.#reading && !this.#gone && this.#inboxHead < this.#inbox.length) {
      const item = this.#inbox[this.#inboxHead];
      if (item === END_OF_STREAM) {
        this.#inbox[this.#inboxHead++] = null;
        this._peerEnd();
        continue;
      }
      if (item.byteLength <= limit) {
        this.#inbox[this.#inboxHead++] = null;
        this.#inboxBytes -= item.byteLength;
        consumed += item.byteLength;
        this.#hand(item);
      } else {
        const piece = item.subarray(0, limit);
        this.#inbox[this.#inboxHead] = item.subarray(limit);
        this.#inboxBytes -= limit;
        consumed += limit;
        this.#hand(piece);
      }
    }
    if (this.#inboxHead === this.#inbox.length) {
      this.#inbox.length = 0;
      this.#inboxHead = 0;
    }
    // Room opened in this end's window: let the peer send more.
    const peer = this.peer;
    if (consumed > 0 && !peer.#gone && peer._queuedBytes > 0) peer._pump();
  };

  /**
   * Hands received bytes to the handlers. Handlers that take loaned chunks get them in one read
   * buffer, as from a socket on Deno, overwritten with 0xa5 once `onData` returns, so that a
   * consumer that keeps a loaned chunk without copying it sees garbage in every test.
   */
  #hand(bytes: Uint8Array): void {
    if (this.handlers.loanedChunks !== true) return this._deliver(bytes);
    if (this.#loanBuffer.byteLength < bytes.byteLength) this.#loanBuffer = new Uint8Array(bytes.byteLength);
    const lent = this.#loanBuffer.subarray(0, bytes.byteLength);
    lent.set(bytes);
    if (this._deliverLoaned(lent)) lent.fill(0xa5);
  }

  /** Delivers what the peer sent, and goes on delivering. */
  protected override _startReading(): void {
    this.#reading = true;
    this.#scheduleDelivery();
  }

  /** Holds what the peer sends until reading starts again. */
  protected override _stopReading(): void {
    this.#reading = false;
    if (this.#deliveryTimer !== undefined) {
      clearTimeout(this.#deliveryTimer);
      this.#deliveryTimer = undefined;
    }
  }

  /** Sends the peer its end of stream. */
  protected override _shutdownWrite(): void {
    if (!this.peer.#gone) this.peer.#receive(END_OF_STREAM);
  }

  /** Closes this end; an abort resets the peer. */
  protected override _release(abort: boolean): void {
    const peer = this.peer;
    const unread = this.#inboxBytes + this.#inTransit > 0;
    this.#gone = true;
    this._stopReading();
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#inbox.length = 0;
    this.#inboxHead = 0;
    this.#inboxBytes = 0;
    this.#inTransit = 0;
    // As with TCP: aborting, or closing with unread data, sends the peer a reset.
    if ((abort || unread) && !peer.#gone) {
      peer._fail(
        new NetError("ECONNRESET", "The connection was reset by the peer", { syscall: "read" }),
      );
    }
    queueMicrotask(() => this._transportClosed());
  }

  /** Nothing to do: there is no Nagle in memory. */
  setNoDelay(_noDelay?: boolean): void {}

  /** Nothing to do: an in-process connection never goes stale. */
  setKeepAlive(_enable: boolean, _initialDelayMs?: number): void {}
}

class MemoryListener implements Listener {
  readonly addr: Addr;
  readonly pending = new Set<PendingAttempt>();
  #closed = false;
  #unregister: () => void;

  constructor(
    addr: Addr,
    readonly options: MemoryListenOptions,
    unregister: () => void,
  ) {
    this.addr = addr;
    this.#unregister = unregister;
  }

  get closed(): boolean {
    return this.#closed;
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#unregister();
      for (const attempt of this.pending) attempt.refuse();
      this.pending.clear();
    }
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

class MemoryDatagram implements DatagramSocket {
  #closed = false;
  constructor(
    readonly addr: Addr,
    readonly options: DatagramOptions,
    readonly transport: MemoryTransport,
    readonly unregister: () => void,
  ) {}

  send(bytes: Uint8Array, to: { hostname: string; port: number }): Promise<void> {
    if (this.#closed) {
      return Promise.reject(new NetError("ENOTCONN", "Cannot send: the datagram socket is closed"));
    }
    this.transport.routeDatagram(bytes.slice(), this.addr, to);
    return Promise.resolve();
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.unregister();
    }
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * An in-process transport. Each instance is its own little network.
 *
 * @example
 * ```ts
 * import { MemoryTransport } from "sockmodels/runtime/memory";
 * const memory = new MemoryTransport({ chunkSize: 1 });
 * const listener = await memory.listen({
 *   port: 0,
 *   onAccept: (s) => s.setHandlers({ onData: (c) => s.write(c) }),
 * });
 * const client = await memory.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * ```
 */
export class MemoryTransport implements Transport {
  /** The transport's name. */
  readonly name = "memory" as const;
  /** The memory transport resets like TCP and cancels connects; it has no ports to share. */
  readonly capabilities: TransportCapabilities = {
    reset: true,
    reusePort: false,
    backlog: false,
    cancelConnect: true,
    tls: false,
    tlsClientCert: false,
    serverStartTls: false,
  };
  /** The faults injected into every connection. Changes apply to new connections. */
  faults: MemoryFaults;
  #listeners = new Map<number, MemoryListener>();
  #datagrams = new Map<number, MemoryDatagram>();

  /** Creates a transport with the given faults. */
  constructor(faults: MemoryFaults = {}) {
    this.faults = faults;
  }

  #resolvedFaults(): Required<MemoryFaults> {
    const f = this.faults;
    const chunkSize = f.chunkSize ?? Number.POSITIVE_INFINITY;
    const latencyMs = f.latencyMs ?? 0;
    const receiveWindow = f.receiveWindow ?? 256 * 1024;
    if (!(chunkSize >= 1)) throw new RangeError(`Chunk size must be at least 1 byte, got ${chunkSize}`);
    if (!(latencyMs >= 0)) throw new RangeError(`Latency must be at least 0 ms, got ${latencyMs}`);
    if (!(receiveWindow >= 1)) {
      throw new RangeError(`Receive window must be at least 1 byte, got ${receiveWindow}`);
    }
    return { chunkSize, latencyMs, receiveWindow };
  }

  /** Listens on an in-process port (0 picks a free one). */
  listen(options: MemoryListenOptions): Promise<Listener> {
    try {
      checkListenOptions(options);
      if (options.reusePort) {
        throw new NetError("ENOTSUP", "reusePort is not supported by the memory transport", {
          syscall: "listen",
        });
      }
      if (options.tls) {
        throw new NetError("ENOTSUP", "TLS is not supported by the memory transport", { syscall: "listen" });
      }
    } catch (error) {
      return Promise.reject(error);
    }
    const hostname = options.hostname ?? "127.0.0.1";
    let port = options.port;
    if (port === 0) {
      port = allocatePort((p) => this.#listeners.has(p));
    } else if (this.#listeners.has(port)) {
      return Promise.reject(
        new NetError("EADDRINUSE", `Address ${formatHostPort(hostname, port)} is already in use`, {
          syscall: "listen",
          address: hostname,
          port,
        }),
      );
    }
    const listener = new MemoryListener(
      { hostname, port, family: familyOf(hostname) },
      options,
      () => this.#listeners.delete(port),
    );
    this.#listeners.set(port, listener);
    return Promise.resolve(listener);
  }

  /** Connects to an in-process listener; ECONNREFUSED if none listens on the port. */
  connect(options: ConnectOptions): Promise<Stream> {
    if (options.tls) {
      return Promise.reject(
        new NetError("ENOTSUP", "TLS is not supported by the memory transport", { syscall: "connect" }),
      );
    }
    return connectDeadline<Stream>(options, (settle) => {
      const { hostname, port } = options;
      const where = formatHostPort(hostname, port);
      const listener = this.#listeners.get(port);
      const refused = () =>
        new NetError("ECONNREFUSED", `Connection to ${where} was refused`, {
          syscall: "connect",
          address: hostname,
          port,
        });
      if (!listener || listener.closed) {
        queueMicrotask(() => settle.reject(refused()));
        return () => {};
      }
      if (listener.options.neverAccept) {
        const attempt: PendingAttempt = { refuse: () => settle.reject(refused()) };
        listener.pending.add(attempt);
        return () => listener.pending.delete(attempt);
      }
      const faults = this.#resolvedFaults();
      const serverAddr = listener.addr;
      const clientAddr: Addr = {
        hostname: serverAddr.hostname,
        port: allocatePort(() => false),
        family: serverAddr.family,
      };
      const client = new MemoryStream(clientAddr, serverAddr, faults, options);
      const server = new MemoryStream(serverAddr, clientAddr, faults, listener.options);
      client.peer = server;
      server.peer = client;
      let abandoned = false;
      queueMicrotask(() => {
        if (abandoned) return;
        listener.options.onAccept(server);
        settle.resolve(client);
      });
      return () => {
        abandoned = true;
      };
    });
  }

  /** Binds an in-process datagram socket. */
  bindDatagram(options: DatagramOptions): Promise<DatagramSocket> {
    try {
      checkPort(options.port, "bind");
    } catch (error) {
      return Promise.reject(error);
    }
    const hostname = options.hostname ?? "127.0.0.1";
    let port = options.port;
    if (port === 0) port = allocatePort((p) => this.#datagrams.has(p));
    else if (this.#datagrams.has(port)) {
      return Promise.reject(
        new NetError("EADDRINUSE", `Address ${formatHostPort(hostname, port)} is already in use`, {
          syscall: "bind",
          address: hostname,
          port,
        }),
      );
    }
    const socket = new MemoryDatagram(
      { hostname, port, family: familyOf(hostname) },
      options,
      this,
      () => this.#datagrams.delete(port),
    );
    this.#datagrams.set(port, socket);
    return Promise.resolve(socket);
  }

  /** Delivers one datagram, or drops it like UDP when nothing is bound there. */
  routeDatagram(bytes: Uint8Array, from: Addr, to: { hostname: string; port: number }): void {
    const target = this.#datagrams.get(to.port);
    if (!target) return;
    const deliver = () => target.options.onMessage?.(bytes, from);
    const latency = this.faults.latencyMs ?? 0;
    setTimeout(deliver, latency);
  }
}

/**
 * Creates a memory transport with its own address space.
 *
 * @example
 * ```ts
 * const memory = createMemoryTransport({ chunkSize: 1, latencyMs: 2 });
 * ```
 */
export function createMemoryTransport(faults: MemoryFaults = {}): MemoryTransport {
  return new MemoryTransport(faults);
}

/**
 * A shared memory transport without faults.
 *
 * @example
 * ```ts
 * import { memoryTransport } from "sockmodels/runtime/memory";
 * const listener = await memoryTransport.listen({ port: 0, onAccept: (s) => s.close() });
 * ```
 */
export const memoryTransport: MemoryTransport = new MemoryTransport();
