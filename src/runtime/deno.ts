/**
 * The Deno transport, on `Deno.listen` and `Deno.connect`.
 *
 * Reading uses `conn.read()` in a loop that pushes (never `conn.readable`, whose end closes the
 * whole connection). The read buffer is sized adaptively: it starts small, grows fourfold
 * while reads fill it, and after several reads that used at most half of it shrinks to twice the
 * largest of them, so an idle connection pins a small buffer while its read is pending, and a
 * busy one is not made to split its reads. Each chunk handed out is a copy of exactly the bytes
 * read, unless the handlers take loaned chunks (`StreamHandlers.loanedChunks`): they then get a
 * view of the read buffer, which the next read fills again.
 *
 * Deno has no way to send an RST, so `reset()` closes the socket (the peer sees a clean close).
 * `reusePort` and `Deno.listenDatagram` need `--unstable-net`; without it `reusePort` is refused
 * with ENOTSUP and datagrams use `node:dgram`. `setKeepAlive` ignores the delay, which Deno
 * cannot set.
 *
 * An accept that fails for its own connection only (one reset while it waited in the backlog)
 * is followed by the next accept at once. When descriptors or memory run out, accepting pauses
 * for 50 ms, doubling up to 800 ms while the condition lasts, and `onError` hears of it once per
 * pause.
 *
 * TLS uses `Deno.listenTls`, and `Deno.connect` followed by `Deno.startTls` (so that the
 * connect can be cancelled and `serverName` can differ from the host), or `Deno.connectTls`
 * when a client certificate is sent. Deno cannot ask clients for a certificate
 * (`requestClientCert` is refused with ENOTSUP), cannot skip verification per connection
 * (`insecure` is refused; Deno's `--unsafely-ignore-certificate-errors` flag does it for the
 * whole process), cannot send a client certificate under a `serverName` other than the host,
 * and reports only the ALPN protocol of a handshake.
 *
 * @module
 */

import { NetError, toNetError } from "./errors.ts";
import { StreamBase, type TlsRole } from "./stream_base.ts";
import { bindNodeDatagram } from "./node.ts";
import type {
  Addr,
  ConnectOptions,
  DatagramOptions,
  DatagramSocket,
  Listener,
  ListenOptions,
  Stream,
  StreamOptions,
  TlsClientOptions,
  TlsInfo,
  TlsServerOptions,
  Transport,
} from "./types.ts";
import { checkListenOptions, checkPort, connectDeadline, familyOf } from "./util.ts";
import {
  checkTlsClientOptions,
  checkTlsServerOptions,
  handshakeTimeoutError,
  handshakeTimeoutOf,
  pemText,
} from "./_tls.ts";

// The slice of Deno's API this transport uses.
interface DenoNetAddr {
  hostname: string;
  port: number;
}
interface DenoConn {
  readonly localAddr: DenoNetAddr;
  readonly remoteAddr: DenoNetAddr;
  read(buffer: Uint8Array): Promise<number | null>;
  write(data: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
  /** Not on TLS connections, where Deno leaves Nagle off and keepalive unset. */
  setNoDelay?(noDelay?: boolean): void;
  setKeepAlive?(keepAlive?: boolean): void;
  /** On TLS connections only. */
  handshake?(): Promise<{ alpnProtocol: string | null }>;
}
interface DenoListener {
  readonly addr: DenoNetAddr;
  accept(): Promise<DenoConn>;
  close(): void;
}
interface DenoDatagramConn {
  readonly addr: DenoNetAddr;
  receive(buffer?: Uint8Array): Promise<[Uint8Array, DenoNetAddr]>;
  send(data: Uint8Array, addr: DenoNetAddr & { transport: "udp" }): Promise<number>;
  close(): void;
}
interface DenoApi {
  listen(options: { hostname: string; port: number; reusePort?: boolean; transport?: "tcp" }): DenoListener;
  listenTls(options: {
    hostname: string;
    port: number;
    reusePort?: boolean;
    transport?: "tcp";
    cert: string;
    key: string;
    alpnProtocols?: string[];
  }): DenoListener;
  connect(options: { hostname: string; port: number; signal?: AbortSignal }): Promise<DenoConn>;
  connectTls(options: {
    hostname: string;
    port: number;
    caCerts?: string[];
    cert?: string;
    key?: string;
    alpnProtocols?: string[];
  }): Promise<DenoConn>;
  startTls(
    conn: DenoConn,
    options: { hostname: string; caCerts?: string[]; alpnProtocols?: string[] },
  ): Promise<DenoConn>;
  listenDatagram?(options: { hostname: string; port: number; transport: "udp" }): DenoDatagramConn;
}

function deno(): DenoApi {
  const api = (globalThis as unknown as { Deno?: DenoApi }).Deno;
  if (!api) throw new NetError("ENOTSUP", "The Deno transport needs the Deno runtime");
  return api;
}

/** `Deno.listenDatagram` exists only with `--unstable-net`, which also enables `reusePort`. */
function unstableNet(): boolean {
  return typeof deno().listenDatagram === "function";
}

const MIN_READ = 512;
const MAX_READ = 64 * 1024;
/** Consecutive reads under half the buffer before it shrinks. */
const SHRINK_AFTER = 8;

function fitReadSize(bytes: number): number {
  let size = MIN_READ;
  while (size < bytes && size < MAX_READ) size *= 2;
  return size;
}

function toAddr(a: DenoNetAddr): Addr {
  return { hostname: a.hostname, port: a.port, family: familyOf(a.hostname) };
}

class DenoStream extends StreamBase {
  readonly localAddr: Addr;
  readonly remoteAddr: Addr;
  #conn: DenoConn;
  #readBuffer: Uint8Array | undefined;
  #shortReads = 0;
  /** The largest of the short reads in a row. */
  #shortReadPeak = 0;
  #reading = false;
  #wantRead = false;
  #writing = false;
  #inFlight = 0;
  #released = false;
  #tlsInfo: TlsInfo | undefined;
  /** The name a client dialled, which `startTls` verifies by default. */
  readonly #dialedHost: string | undefined;

  /** `local` is the listener's address when it is bound to one, which every accepted conn shares. */
  constructor(conn: DenoConn, options: StreamOptions, tls: TlsInfo | undefined, dialedHost?: string, local?: Addr) {
    super(options);
    this.#conn = conn;
    this.#tlsInfo = tls;
    this._accepted = dialedHost === undefined;
    this.#dialedHost = dialedHost;
    this.localAddr = local ?? toAddr(conn.localAddr);
    this.remoteAddr = toAddr(conn.remoteAddr);
    conn.setNoDelay?.(options.noDelay ?? true);
  }

  override get tls(): TlsInfo | undefined {
    return this.#tlsInfo;
  }

  protected override _startTlsUnsupported(
    role: TlsRole,
    options: TlsClientOptions | TlsServerOptions,
  ): NetError | undefined {
    if (role === "server") {
      return new NetError("ENOTSUP", "Deno cannot upgrade an accepted connection to TLS", { syscall: "starttls" });
    }
    try {
      checkDenoTlsClient(options as TlsClientOptions, this.#dialedHost!);
    } catch (error) {
      return error as NetError;
    }
    if ((options as TlsClientOptions).cert !== undefined) {
      return new NetError("ENOTSUP", "Deno cannot send a client certificate on an upgraded connection", {
        syscall: "starttls",
      });
    }
    return undefined;
  }

  protected override _upgradeTls(_role: TlsRole, options: TlsClientOptions | TlsServerOptions): Promise<TlsInfo> {
    if (this.#reading) {
      throw new NetError(
        "EALREADY",
        "On Deno, startTls() must be called from onData, or after pausing there: a read is " +
          "already waiting on the socket and cannot be taken back",
        { syscall: "starttls" },
      );
    }
    const t = options as TlsClientOptions;
    const serverName = t.serverName ?? this.#dialedHost!;
    const ms = handshakeTimeoutOf(t);
    const remote = this.remoteAddr;
    const plain = this.#conn;
    return (async () => {
      try {
        const secure = await deno().startTls(plain, {
          hostname: serverName,
          caCerts: t.ca === undefined ? undefined : [pemText(t.ca)],
          alpnProtocols: t.alpnProtocols?.slice(),
        });
        // From here closing the stream closes the TLS connection.
        this.#conn = secure;
        if (this.#released) closeQuietly(secure);
        const info = await withDeadline(
          secure.handshake!(),
          ms,
          () => handshakeTimeoutError(ms, remote.hostname, remote.port),
        );
        return this.#tlsInfo = { alpnProtocol: info.alpnProtocol ?? undefined, serverName };
      } catch (error) {
        const netError = toNetError(error, { syscall: "handshake", address: remote.hostname, port: remote.port });
        this._fail(netError);
        throw netError;
      }
    })();
  }

  protected override _osBufferedAmount(): number {
    return this.#inFlight;
  }

  protected override _pump(): void {
    if (this.#writing || this.#released) return;
    const chunk = this._takeChunk();
    if (chunk === undefined) return this._progress();
    this.#writing = true;
    this.#inFlight = chunk.byteLength;
    this.#conn.write(chunk).then(
      (written) => {
        this.#writing = false;
        this.#inFlight = 0;
        if (written < chunk.byteLength) this._unshiftChunk(chunk.subarray(written));
        if (this.#released) return;
        if (this._queuedBytes > 0) this._pump();
        else this._progress();
      },
      (error: unknown) => {
        this.#writing = false;
        if (!this.#released) this._fail(toNetError(error, { syscall: "write" }));
      },
    );
  }

  protected override _startReading(): void {
    this.#wantRead = true;
    if (!this.#reading) this.#readNext();
  }

  protected override _stopReading(): void {
    this.#wantRead = false;
  }

  // The read loop is a chain of callbacks rather than an async function: an idle connection
  // then waits with one pending read and no suspended generator of its own.
  #readNext(): void {
    if (!this.#wantRead || this.#released) {
      this.#reading = false;
      return;
    }
    this.#reading = true;
    const buffer = this.#readBuffer ??= new Uint8Array(MIN_READ);
    this.#conn.read(buffer).then(this.#onRead, this.#onReadError);
  }

  readonly #onRead = (n: number | null): void => {
    try {
      this.#afterRead(n);
    } catch (error) {
      this.#onReadError(error);
    }
  };

  #afterRead(n: number | null): void {
    if (this.#released) {
      this.#reading = false;
      return;
    }
    if (n === null) {
      this.#reading = false;
      this.#wantRead = false;
      this._peerEnd();
      return;
    }
    let buffer = this.#readBuffer!;
    this._deliverLoaned(buffer.subarray(0, n));
    if (n === buffer.byteLength) {
      this.#shortReads = 0;
      this.#shortReadPeak = 0;
      if (buffer.byteLength < MAX_READ) buffer = new Uint8Array(buffer.byteLength * 4);
    } else if (n * 2 <= buffer.byteLength && buffer.byteLength > MIN_READ) {
      // Shrink only after several short reads in a row, and to twice the largest of them,
      // so that a steady stream of reads of varying sizes is not split in two.
      if (n > this.#shortReadPeak) this.#shortReadPeak = n;
      if (++this.#shortReads >= SHRINK_AFTER) {
        const size = fitReadSize(2 * this.#shortReadPeak);
        if (size < buffer.byteLength) buffer = new Uint8Array(size);
        this.#shortReads = 0;
        this.#shortReadPeak = 0;
      }
    } else {
      this.#shortReads = 0;
      this.#shortReadPeak = 0;
    }
    if (!this.#released) this.#readBuffer = buffer;
    this.#readNext();
  }

  readonly #onReadError = (error: unknown): void => {
    this.#reading = false;
    if (!this.#released) this._fail(toNetError(error, { syscall: "read" }));
  };

  protected override _shutdownWrite(): void {
    this.#conn.closeWrite().catch((error: unknown) => {
      if (!this.#released) this._fail(toNetError(error, { syscall: "shutdown" }));
    });
  }

  protected override get _releaseSendsFin(): boolean {
    return this.#conn.handshake === undefined;
  }

  protected override _release(_abort: boolean): void {
    if (this.#released) return;
    this.#released = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed by the runtime.
    }
    this.#readBuffer = undefined;
    queueMicrotask(() => this._transportClosed());
  }

  setNoDelay(noDelay = true): void {
    this.#conn.setNoDelay?.(noDelay);
  }

  setKeepAlive(enable: boolean, _initialDelayMs?: number): void {
    this.#conn.setKeepAlive?.(enable);
  }
}

/** The first pause after `accept` ran out of descriptors or memory, in milliseconds. */
const ACCEPT_BACKOFF_MIN_MS = 50;
/** The longest pause between `accept` attempts while descriptors or memory are exhausted. */
const ACCEPT_BACKOFF_MAX_MS = 800;

/**
 * Errors of one pending connection, not of the listener: Linux `accept(2)` passes a pending
 * network error on (ECONNABORTED, EPROTO, ...), and Deno fails the accept with ENOTCONN when the
 * peer reset the connection while it waited in the backlog. The next accept may well succeed.
 */
const PER_CONNECTION_ACCEPT_ERRORS = new Set([
  "ENOTCONN",
  "ECONNABORTED",
  "ECONNRESET",
  "EPROTO",
  "EPERM",
  "ETIMEDOUT",
  "ENETDOWN",
  "ENETUNREACH",
  "EHOSTDOWN",
  "EHOSTUNREACH",
  "ENONET",
  "ENOPROTOOPT",
  "EOPNOTSUPP",
]);

/** Whether a failed accept concerned only that connection, so accepting again at once is right. */
function isPerConnectionAcceptError(error: unknown, netError: NetError): boolean {
  const raw = (error as { code?: unknown } | null)?.code;
  if (typeof raw === "string") return PER_CONNECTION_ACCEPT_ERRORS.has(raw);
  return PER_CONNECTION_ACCEPT_ERRORS.has(netError.code);
}

class DenoListenerImpl implements Listener {
  readonly addr: Addr;
  #listener: DenoListener;
  #closed = false;
  #loop: Promise<void>;
  #wake: (() => void) | undefined;
  /** The address every accepted conn has as its own, when the listener is bound to one. */
  readonly #sharedLocal: Addr | undefined;

  constructor(listener: DenoListener, options: ListenOptions) {
    this.#listener = listener;
    this.addr = toAddr(listener.addr);
    const wildcard = this.addr.hostname === "0.0.0.0" || this.addr.hostname === "::";
    this.#sharedLocal = wildcard ? undefined : Object.freeze({ ...this.addr });
    this.#loop = this.#acceptLoop(options);
  }

  async #acceptLoop(options: ListenOptions): Promise<void> {
    let backoffMs = 0;
    while (!this.#closed) {
      let conn: DenoConn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closed) return;
        const netError = toNetError(error, { syscall: "accept" });
        // A connection reset in the backlog fails only its own accept: take the next one at
        // once, as Node and Bun do, so that a flood of resets cannot throttle accepting.
        if (isPerConnectionAcceptError(error, netError)) continue;
        // Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) or something unknown:
        // the pending connection stays in the backlog, so wait before trying again, doubling
        // the wait while the condition lasts, and tell the caller once per wait.
        backoffMs = backoffMs === 0 ? ACCEPT_BACKOFF_MIN_MS : Math.min(backoffMs * 2, ACCEPT_BACKOFF_MAX_MS);
        options.onError?.(netError);
        await this.#pause(backoffMs);
        continue;
      }
      backoffMs = 0;
      if (this.#closed) {
        conn.close();
        return;
      }
      if (options.tls) void this.#handshake(conn, options, handshakeTimeoutOf(options.tls));
      else options.onAccept(new DenoStream(conn, options, undefined, undefined, this.#sharedLocal));
    }
  }

  /** Finishes a TLS connection's handshake apart from the accept loop, then hands it over. */
  async #handshake(conn: DenoConn, options: ListenOptions, ms: number): Promise<void> {
    const remote = conn.remoteAddr;
    let info: { alpnProtocol: string | null };
    try {
      info = await withDeadline(conn.handshake!(), ms, () => handshakeTimeoutError(ms, remote.hostname, remote.port));
    } catch (error) {
      closeQuietly(conn);
      options.onError?.(toNetError(error, { syscall: "handshake", address: remote.hostname, port: remote.port }));
      return;
    }
    if (this.#closed) return closeQuietly(conn);
    try {
      options.onAccept(new DenoStream(conn, options, { alpnProtocol: info.alpnProtocol ?? undefined }));
    } catch (error) {
      // This runs apart from the accept loop: nothing may escape it as an unhandled rejection.
      closeQuietly(conn);
      options.onError?.(toNetError(error, { syscall: "accept", address: remote.hostname, port: remote.port }));
    }
  }

  /** Waits `ms`, or less if the listener is closed meanwhile. */
  #pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
    });
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      try {
        this.#listener.close();
      } catch {
        // Already closed.
      }
      this.#wake?.();
    }
    // The socket is released only once the pending accept has returned.
    return this.#loop;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function closeQuietly(conn: DenoConn): void {
  try {
    conn.close();
  } catch {
    // Closed already.
  }
}

/** `promise`, or the error of `timeout()` if it has not settled within `ms`. */
function withDeadline<T>(promise: Promise<T>, ms: number, timeout: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(timeout()), ms))),
  ]).finally(() => clearTimeout(timer));
}

/** Connects with TLS: plain then `startTls`, or `connectTls` to send a client certificate. */
async function connectTls(options: ConnectOptions, t: TlsClientOptions, signal: AbortSignal): Promise<DenoStream> {
  const { hostname, port } = options;
  const api = deno();
  const serverName = t.serverName ?? hostname;
  const caCerts = t.ca === undefined ? undefined : [pemText(t.ca)];
  const alpnProtocols = t.alpnProtocols?.slice();
  const ms = handshakeTimeoutOf(t);
  let conn: DenoConn;
  if (t.cert !== undefined && t.key !== undefined) {
    conn = await api.connectTls({ hostname, port, caCerts, alpnProtocols, cert: pemText(t.cert), key: pemText(t.key) });
  } else {
    const plain = await api.connect({ hostname, port, signal });
    conn = await api.startTls(plain, { hostname: serverName, caCerts, alpnProtocols });
  }
  try {
    const info = await withDeadline(conn.handshake!(), ms, () => handshakeTimeoutError(ms, hostname, port));
    return new DenoStream(conn, options, { alpnProtocol: info.alpnProtocol ?? undefined, serverName }, hostname);
  } catch (error) {
    closeQuietly(conn);
    throw error;
  }
}

function checkDenoTlsClient(t: TlsClientOptions, hostname: string): void {
  checkTlsClientOptions(t);
  if (t.insecure) {
    throw new NetError(
      "ENOTSUP",
      "Deno cannot skip certificate verification for one connection; start it with " +
        `--unsafely-ignore-certificate-errors=${hostname} instead of passing insecure`,
      { syscall: "connect" },
    );
  }
  if (t.cert !== undefined && t.serverName !== undefined && t.serverName !== hostname) {
    throw new NetError(
      "ENOTSUP",
      `Deno cannot send a client certificate under the server name ${t.serverName} while ` +
        `connecting to ${hostname}`,
      { syscall: "connect" },
    );
  }
}

class DenoDatagram implements DatagramSocket {
  readonly addr: Addr;
  #conn: DenoDatagramConn;
  #closed = false;

  constructor(conn: DenoDatagramConn, options: DatagramOptions) {
    this.#conn = conn;
    this.addr = toAddr(conn.addr);
    this.#receiveLoop(options);
  }

  async #receiveLoop(options: DatagramOptions): Promise<void> {
    while (!this.#closed) {
      try {
        const [bytes, from] = await this.#conn.receive();
        options.onMessage?.(bytes, toAddr(from));
      } catch (error) {
        if (this.#closed) return;
        options.onError?.(toNetError(error, { syscall: "recvfrom" }));
      }
    }
  }

  async send(bytes: Uint8Array, to: { hostname: string; port: number }): Promise<void> {
    try {
      await this.#conn.send(bytes, { hostname: to.hostname, port: to.port, transport: "udp" });
    } catch (error) {
      throw toNetError(error, { syscall: "sendto", address: to.hostname, port: to.port });
    }
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#conn.close();
    }
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * The Deno transport.
 *
 * @example
 * ```ts
 * import { denoTransport } from "sockmodels/runtime/deno";
 * const listener = await denoTransport.listen({
 *   port: 0,
 *   onAccept: (s) => s.setHandlers({ onData: (c) => s.write(c) }),
 * });
 * ```
 */
export const denoTransport: Transport = {
  name: "deno",
  get capabilities() {
    return {
      reset: false,
      reusePort: unstableNet(),
      backlog: false,
      cancelConnect: true,
      tls: true,
      tlsClientCert: false,
      serverStartTls: false,
    };
  },

  listen(options: ListenOptions): Promise<Listener> {
    const hostname = options.hostname ?? "127.0.0.1";
    try {
      checkListenOptions(options);
      if (options.reusePort && !unstableNet()) {
        throw new NetError(
          "ENOTSUP",
          "reusePort on Deno needs the --unstable-net flag",
          { syscall: "listen", address: hostname, port: options.port },
        );
      }
      const t = options.tls;
      if (t) {
        checkTlsServerOptions(t);
        if (t.requestClientCert) {
          throw new NetError("ENOTSUP", "Deno's TLS listener cannot ask clients for a certificate", {
            syscall: "listen",
            address: hostname,
            port: options.port,
          });
        }
      }
      const bind = {
        hostname,
        port: options.port,
        transport: "tcp" as const,
        ...(options.reusePort ? { reusePort: true } : {}),
      };
      const listener = t
        ? deno().listenTls({
          ...bind,
          cert: pemText(t.cert),
          key: pemText(t.key),
          ...(t.alpnProtocols ? { alpnProtocols: t.alpnProtocols.slice() } : {}),
        })
        : deno().listen(bind);
      return Promise.resolve(new DenoListenerImpl(listener, options));
    } catch (error) {
      if (error instanceof RangeError || error instanceof TypeError) return Promise.reject(error);
      return Promise.reject(toNetError(error, { syscall: "listen", address: hostname, port: options.port }));
    }
  },

  connect(options: ConnectOptions): Promise<Stream> {
    const { hostname, port } = options;
    const t = options.tls;
    if (t) {
      try {
        checkDenoTlsClient(t, hostname);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return connectDeadline<Stream>(options, (settle) => {
      const controller = new AbortController();
      if (t) {
        connectTls(options, t, controller.signal).then(
          (stream) => settle.resolve(stream),
          (error: unknown) => settle.reject(toNetError(error, { syscall: "handshake", address: hostname, port })),
        );
        return () => controller.abort();
      }
      deno()
        .connect({ hostname, port, signal: controller.signal })
        .then(
          (conn) => settle.resolve(new DenoStream(conn, options, undefined, hostname)),
          (error: unknown) => settle.reject(toNetError(error, { syscall: "connect", address: hostname, port })),
        );
      return () => controller.abort();
    });
  },

  bindDatagram(options: DatagramOptions): Promise<DatagramSocket> {
    const hostname = options.hostname ?? "127.0.0.1";
    try {
      checkPort(options.port, "bind");
      const api = deno();
      if (typeof api.listenDatagram !== "function") return bindNodeDatagram(options);
      const conn = api.listenDatagram({ hostname, port: options.port, transport: "udp" });
      return Promise.resolve(new DenoDatagram(conn, options));
    } catch (error) {
      if (error instanceof RangeError) return Promise.reject(error);
      return Promise.reject(toNetError(error, { syscall: "bind", address: hostname, port: options.port }));
    }
  },
};
