/**
 * The Bun transport, on `Bun.listen`, `Bun.connect` and `Bun.udpSocket`.
 *
 * Bun's `write()` returns how many bytes the kernel took and drops the rest, so this stream
 * keeps its own FIFO queue and never lets a write pass a non-empty queue. Sockets are opened
 * with `allowHalfOpen: true` and the stream applies the half-open policy itself. Bun has no
 * accept backlog option, so `backlog` is ignored; and a pending `Bun.connect` cannot be
 * cancelled: after a timeout or an abort the attempt is left to fail or is closed at once if it
 * succeeds.
 *
 * With `tls`, a listener hands a stream to `onAccept` only once its handshake is done, and a
 * connect resolves only then. Bun reports an authorization error on some good server-side
 * handshakes where no client certificate was asked for, so the server heeds it only with
 * `requestClientCert`.
 *
 * @module
 */

import { NetError, toNetError } from "./errors.ts";
import { StreamBase, type TlsRole } from "./stream_base.ts";
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
  alpnWire,
  checkTlsClientOptions,
  checkTlsServerOptions,
  handshakeTimeoutError,
  handshakeTimeoutOf,
  isIpAddress,
  type NodePeerCertificate,
  pemText,
  toPeerCertificate,
} from "./_tls.ts";

// The slice of Bun's API this transport uses.
interface BunSocket {
  data: BunSocketTarget | undefined;
  readonly localAddress?: string;
  readonly localPort?: number;
  readonly localFamily?: string;
  readonly remoteAddress?: string;
  readonly remotePort?: number;
  readonly remoteFamily?: string;
  write(data: Uint8Array): number;
  end(): void;
  shutdown(halfClose?: boolean): void;
  terminate(): void;
  pause(): void;
  resume(): void;
  setNoDelay(noDelay?: boolean): boolean;
  setKeepAlive(enable?: boolean, initialDelay?: number): boolean;
  // On TLS sockets only.
  readonly alpnProtocol?: string | false | null;
  getTLSVersion?(): string | null;
  getCipher?(): { standardName?: string; name?: string } | null;
  getPeerCertificate?(): NodePeerCertificate | null;
  getServername?(): string | undefined;
  /** Runs TLS over this connected socket; the first socket returned is its raw side. */
  upgradeTLS?(
    options: { data?: BunSocketTarget; tls: BunTlsOptions; socket: BunSocketHandlers },
  ): [BunSocket, BunSocket];
}

/** What the raw side of an upgraded socket calls: its bytes are the TLS socket's to read. */
const UPGRADED_RAW_SIDE: BunSocketTarget = {
  onBunData() {},
  onBunDrain() {},
  onBunEnd() {},
  onBunError() {},
  onBunClose() {},
};

/** What a socket's handlers call on `socket.data`: its stream, or its pending handshake. */
interface BunSocketTarget {
  onBunData(data: Uint8Array): void;
  onBunDrain(): void;
  onBunEnd(): void;
  onBunError(error: Error): void;
  onBunClose(error?: Error): void;
}

/**
 * A TLS socket whose handshake is still running. It answers the socket's handlers like a
 * stream does, so that the handlers of every socket stay one call with no type test.
 */
class PendingHandshake implements BunSocketTarget {
  readonly #timer: ReturnType<typeof setTimeout>;
  readonly #socket: BunSocket;
  readonly #done: (error?: NetError) => void;

  constructor(socket: BunSocket, ms: number, done: (error?: NetError) => void) {
    this.#socket = socket;
    this.#done = done;
    this.#timer = setTimeout(() => {
      this.done(handshakeTimeoutError(ms, socket.remoteAddress ?? "", socket.remotePort ?? 0));
      socket.terminate();
    }, ms);
  }

  /** Called once: with the error if the handshake failed or the socket closed first. */
  done(error?: NetError): void {
    clearTimeout(this.#timer);
    if (this.#socket.data === this) this.#socket.data = undefined;
    this.#done(error);
  }

  // No bytes can arrive before the handshake is done.
  onBunData(): void {}
  onBunDrain(): void {}
  onBunEnd(): void {}

  onBunError(error: Error): void {
    this.done(toNetError(error, { syscall: "handshake" }));
  }

  onBunClose(error?: Error): void {
    this.done(
      error ? toNetError(error, { syscall: "handshake" }) : new NetError(
        "ECONNRESET",
        "The connection closed before the TLS handshake finished",
        { syscall: "handshake" },
      ),
    );
  }
}

interface BunTlsOptions {
  cert?: string;
  key?: string;
  ca?: string;
  requestCert?: boolean;
  rejectUnauthorized?: boolean;
  serverName?: string;
  ALPNProtocols?: Uint8Array;
}

interface BunSocketHandlers {
  open?(socket: BunSocket): void;
  data?(socket: BunSocket, data: Uint8Array): void;
  drain?(socket: BunSocket): void;
  end?(socket: BunSocket): void;
  close?(socket: BunSocket, error?: Error): void;
  error?(socket: BunSocket, error: Error): void;
  connectError?(socket: BunSocket, error: Error): void;
  handshake?(socket: BunSocket, success: boolean, authorizationError: Error | null): void;
}

interface BunTcpListener {
  readonly port: number;
  readonly hostname: string;
  stop(closeActiveConnections?: boolean): void;
}

interface BunUdpSocket {
  readonly port: number;
  readonly hostname: string;
  send(data: Uint8Array, port: number, address: string): boolean;
  close(): void;
}

interface BunApi {
  listen(options: {
    hostname: string;
    port: number;
    allowHalfOpen?: boolean;
    reusePort?: boolean;
    tls?: BunTlsOptions;
    socket: BunSocketHandlers;
  }): BunTcpListener;
  connect(options: {
    hostname: string;
    port: number;
    allowHalfOpen?: boolean;
    tls?: BunTlsOptions | boolean;
    socket: BunSocketHandlers;
  }): Promise<BunSocket>;
  udpSocket(options: {
    hostname?: string;
    port?: number;
    socket?: {
      data?(socket: BunUdpSocket, data: Uint8Array, port: number, address: string): void;
      error?(socket: BunUdpSocket, error: Error): void;
    };
  }): Promise<BunUdpSocket>;
}

function bun(): BunApi {
  const api = (globalThis as { Bun?: BunApi }).Bun;
  if (!api) throw new NetError("ENOTSUP", "The Bun transport needs the Bun runtime");
  return api;
}

function addrOf(hostname: string | undefined, port: number | undefined): Addr {
  return { hostname: hostname ?? "", port: port ?? 0, family: familyOf(hostname ?? "") };
}

/**
 * Whether a listener bound to `hostname` hands every socket it accepts that same address, as
 * Bun reports it: an IP address in its usual form, and not a wildcard.
 */
function isOneAddress(hostname: string): boolean {
  if (hostname === "::1") return true;
  const parts = hostname.split(".");
  return parts.length === 4 && hostname !== "0.0.0.0" &&
    parts.every((part) => /^\d{1,3}$/.test(part) && String(Number(part)) === part && Number(part) <= 255);
}

/** BunStream's `#bits`: a write that Bun took in part waits for its drain callback. */
const WAITING_FOR_DRAIN = 1;
/** BunStream's `#bits`: the peer's FIN was seen. */
const SAW_END = 2;

class BunStream extends StreamBase {
  readonly localAddr: Addr;
  readonly remoteAddr: Addr;
  #socket: BunSocket;
  /** WAITING_FOR_DRAIN and SAW_END. */
  #bits = 0;
  /**
   * The TLS session once there is one; until then, on a client, the name it dialled, which
   * `startTls` verifies by default. One field for both keeps every stream a size smaller.
   */
  #tlsOrDialedHost: TlsInfo | string | undefined;

  /** `local`: the address every socket of the listener has, when it is bound to one. */
  constructor(socket: BunSocket, options: StreamOptions, tls: boolean, dialedHost?: string, local?: Addr) {
    super(options);
    this.#socket = socket;
    this._accepted = dialedHost === undefined;
    this.#tlsOrDialedHost = tls ? bunTlsInfo(socket) : dialedHost;
    socket.data = this;
    this.localAddr = local ?? addrOf(socket.localAddress, socket.localPort);
    // A peer that reset right away leaves Bun without an address to report.
    this.remoteAddr = addrOf(socket.remoteAddress, socket.remotePort);
    socket.setNoDelay(options.noDelay ?? true);
    // Reading starts with setHandlers; until then bytes stay in the kernel.
    socket.pause();
  }

  override get tls(): TlsInfo | undefined {
    const tls = this.#tlsOrDialedHost;
    return typeof tls === "object" ? tls : undefined;
  }

  protected override _startTlsUnsupported(): NetError | undefined {
    if (typeof this.#socket.upgradeTLS === "function") return undefined;
    return new NetError("ENOTSUP", "This Bun has no socket.upgradeTLS", { syscall: "starttls" });
  }

  protected override _upgradeTls(role: TlsRole, options: TlsClientOptions | TlsServerOptions): Promise<TlsInfo> {
    const raw = this.#socket;
    const ms = handshakeTimeoutOf(options);
    raw.data = UPGRADED_RAW_SIDE;
    raw.resume();
    const [, secure] = raw.upgradeTLS!({
      tls: role === "server"
        ? bunServerTls(options as TlsServerOptions)
        : bunClientTls(options as TlsClientOptions, this.#tlsOrDialedHost as string),
      socket: {
        ...streamHandlers,
        handshake: onHandshake(role === "client" && !(options as TlsClientOptions).insecure),
      },
    });
    // From here the TLS socket is the one to write to and to close.
    this.#socket = secure;
    return new Promise<TlsInfo>((resolve) => {
      awaitHandshake(secure, ms, (error) => {
        // Its close, which follows a failure, is the stream's to report.
        secure.data = this;
        if (error) return this._fail(error);
        secure.pause();
        resolve(this.#tlsOrDialedHost = bunTlsInfo(secure));
      });
    });
  }

  protected override _pump(): void {
    if (this.#bits & WAITING_FOR_DRAIN) return;
    const socket = this.#socket;
    let chunk: Uint8Array | undefined;
    while ((chunk = this._takeChunk()) !== undefined) {
      const written = socket.write(chunk);
      if (written < chunk.byteLength) {
        this._unshiftChunk(written > 0 ? chunk.subarray(written) : chunk);
        if (written < 0) return; // The socket is closing; its close handler reports it.
        this.#bits |= WAITING_FOR_DRAIN;
        break;
      }
    }
    this._progress();
  }

  onBunDrain(): void {
    this.#bits &= ~WAITING_FOR_DRAIN;
    this._pump();
  }

  onBunData(data: Uint8Array): void {
    this._deliver(data);
  }

  onBunEnd(): void {
    this.#bits |= SAW_END;
    this._peerEnd();
  }

  onBunError(error: Error): void {
    this._fail(toNetError(error, { syscall: "read" }));
  }

  onBunClose(error?: Error): void {
    // Bun reports a peer FIN that arrives after our own FIN as a plain close.
    if (!error && !(this.#bits & SAW_END) && !this._releasing) {
      this.#bits |= SAW_END;
      this._peerEnd();
    }
    this._transportClosed(error ? toNetError(error, { syscall: "read" }) : undefined);
  }

  protected override _startReading(): void {
    this.#socket.resume();
  }

  protected override _stopReading(): void {
    this.#socket.pause();
  }

  protected override _shutdownWrite(): void {
    this.#socket.shutdown();
  }

  protected override _release(abort: boolean): void {
    if (abort) this.#socket.terminate();
    else this.#socket.end();
  }

  setNoDelay(noDelay = true): void {
    this.#socket.setNoDelay(noDelay);
  }

  setKeepAlive(enable: boolean, initialDelayMs = 0): void {
    this.#socket.setKeepAlive(enable, initialDelayMs);
  }
}

/** What a finished handshake settled, read at once: a closed socket no longer reports it. */
function bunTlsInfo(socket: BunSocket): TlsInfo {
  const cipher = socket.getCipher?.();
  return {
    protocol: socket.getTLSVersion?.() ?? undefined,
    cipher: cipher?.standardName ?? cipher?.name,
    alpnProtocol: socket.alpnProtocol || undefined,
    serverName: socket.getServername?.() || undefined,
    peerCertificate: toPeerCertificate(socket.getPeerCertificate?.()),
  };
}

const streamHandlers: BunSocketHandlers = {
  data(socket, data) {
    socket.data?.onBunData(data);
  },
  drain(socket) {
    socket.data?.onBunDrain();
  },
  end(socket) {
    socket.data?.onBunEnd();
  },
  error(socket, error) {
    socket.data?.onBunError(error);
  },
  close(socket, error) {
    socket.data?.onBunClose(error);
  },
};

/**
 * Drops an accepted socket that has no peer address: its peer reset while it waited to be
 * accepted, so nothing can be sent to it. Deno's accept and the node:net transport skip such a
 * connection too, and shedding it here keeps a reset flood from costing a stream each.
 */
function resetInBacklog(socket: BunSocket): boolean {
  if (socket.remoteAddress) return false;
  socket.terminate();
  return true;
}

/** Waits for the handshake of a new TLS socket: `done` hears how it ended, once. */
function awaitHandshake(socket: BunSocket, ms: number, done: (error?: NetError) => void): void {
  socket.data = new PendingHandshake(socket, ms, done);
}

/** The handshake handler: a failed verification is the handshake's error. */
function onHandshake(heedAuthorization: boolean) {
  return (socket: BunSocket, success: boolean, authorizationError: Error | null): void => {
    const data = socket.data;
    if (!(data instanceof PendingHandshake)) return;
    if (!success || (heedAuthorization && authorizationError)) {
      const error = toNetError(authorizationError ?? new Error("TLS handshake failed"), {
        syscall: "handshake",
        address: socket.remoteAddress,
        port: socket.remotePort,
      });
      data.done(error);
      socket.terminate();
      return;
    }
    data.done();
  };
}

function bunServerTls(t: TlsServerOptions): BunTlsOptions {
  return {
    cert: pemText(t.cert),
    key: pemText(t.key),
    ...(t.ca === undefined ? {} : { ca: pemText(t.ca) }),
    requestCert: t.requestClientCert ?? false,
    rejectUnauthorized: t.requestClientCert ?? false,
    ...(t.alpnProtocols ? { ALPNProtocols: alpnWire(t.alpnProtocols) } : {}),
  };
}

function bunClientTls(t: TlsClientOptions, hostname: string): BunTlsOptions {
  return {
    // SNI carries names only; an address is verified against the certificate's IP entries.
    ...(isIpAddress(t.serverName ?? hostname) ? {} : { serverName: t.serverName ?? hostname }),
    rejectUnauthorized: !t.insecure,
    ...(t.ca === undefined ? {} : { ca: pemText(t.ca) }),
    ...(t.cert === undefined ? {} : { cert: pemText(t.cert) }),
    ...(t.key === undefined ? {} : { key: pemText(t.key) }),
    ...(t.alpnProtocols ? { ALPNProtocols: alpnWire(t.alpnProtocols) } : {}),
  };
}

class BunListener implements Listener {
  readonly addr: Addr;
  #server: BunTcpListener;
  #closed = false;

  constructor(server: BunTcpListener, hostname: string) {
    this.#server = server;
    this.addr = { hostname, port: server.port, family: familyOf(hostname) };
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#server.stop(false);
    }
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

class BunDatagram implements DatagramSocket {
  readonly addr: Addr;
  #socket: BunUdpSocket;
  #closed = false;

  constructor(socket: BunUdpSocket, hostname: string) {
    this.#socket = socket;
    this.addr = { hostname, port: socket.port, family: familyOf(hostname) };
  }

  send(bytes: Uint8Array, to: { hostname: string; port: number }): Promise<void> {
    if (this.#closed) {
      return Promise.reject(new NetError("ENOTCONN", "Cannot send: the datagram socket is closed"));
    }
    try {
      this.#socket.send(bytes, to.port, to.hostname);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(toNetError(error, { syscall: "send", address: to.hostname, port: to.port }));
    }
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#socket.close();
    }
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * The Bun transport.
 *
 * @example
 * ```ts
 * import { bunTransport } from "sockmodels/runtime/bun";
 * const listener = await bunTransport.listen({
 *   port: 0,
 *   onAccept: (s) => s.setHandlers({ onData: (c) => s.write(c) }),
 * });
 * ```
 */
export const bunTransport: Transport = {
  name: "bun",
  capabilities: {
    reset: true,
    reusePort: true,
    backlog: false,
    cancelConnect: false,
    tls: true,
    tlsClientCert: true,
    serverStartTls: true,
  },

  listen(options: ListenOptions): Promise<Listener> {
    const hostname = options.hostname ?? "127.0.0.1";
    // Asking Bun for each accepted socket's own address costs a string and an object each.
    let sharedLocal: Addr | undefined;
    try {
      checkListenOptions(options);
      const t = options.tls;
      let socketHandlers: BunSocketHandlers;
      if (t) {
        checkTlsServerOptions(t);
        const ms = handshakeTimeoutOf(t);
        socketHandlers = {
          ...streamHandlers,
          open(socket) {
            if (resetInBacklog(socket)) return;
            awaitHandshake(socket, ms, (error) => {
              if (error) options.onError?.(error);
              else options.onAccept(new BunStream(socket, options, true, undefined, sharedLocal));
            });
          },
          handshake: onHandshake(t.requestClientCert ?? false),
        };
      } else {
        socketHandlers = {
          ...streamHandlers,
          open(socket) {
            if (resetInBacklog(socket)) return;
            options.onAccept(new BunStream(socket, options, false, undefined, sharedLocal));
          },
        };
      }
      const server = bun().listen({
        hostname,
        port: options.port,
        allowHalfOpen: true,
        ...(options.reusePort ? { reusePort: true } : {}),
        ...(t ? { tls: bunServerTls(t) } : {}),
        socket: socketHandlers,
      });
      if (isOneAddress(hostname)) {
        sharedLocal = Object.freeze({ hostname, port: server.port, family: familyOf(hostname) });
      }
      return Promise.resolve(new BunListener(server, hostname));
    } catch (error) {
      if (error instanceof RangeError || error instanceof TypeError) return Promise.reject(error);
      return Promise.reject(
        toNetError(error, { syscall: "listen", address: hostname, port: options.port }),
      );
    }
  },

  connect(options: ConnectOptions): Promise<Stream> {
    const { hostname, port } = options;
    const t = options.tls;
    if (t) {
      try {
        checkTlsClientOptions(t);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return connectDeadline<Stream>(options, (settle) => {
      let abandoned = false;
      let socketHandlers = streamHandlers;
      if (t) {
        const ms = handshakeTimeoutOf(t);
        socketHandlers = {
          ...streamHandlers,
          open(socket) {
            awaitHandshake(socket, ms, (error) => {
              if (abandoned) socket.terminate();
              else if (error) settle.reject(error);
              else settle.resolve(new BunStream(socket, options, true, hostname));
            });
          },
          handshake: onHandshake(!t.insecure),
        };
      }
      bun()
        .connect({
          hostname,
          port,
          allowHalfOpen: true,
          ...(t ? { tls: bunClientTls(t, hostname) } : {}),
          socket: socketHandlers,
        })
        .then(
          (socket) => {
            if (abandoned) {
              socket.terminate();
              return;
            }
            // A TLS stream is made by the handshake handler.
            if (!t) settle.resolve(new BunStream(socket, options, false, hostname));
          },
          (error: unknown) => {
            settle.reject(toNetError(error, { syscall: "connect", address: hostname, port }));
          },
        );
      return () => {
        abandoned = true;
      };
    });
  },

  async bindDatagram(options: DatagramOptions): Promise<DatagramSocket> {
    checkPort(options.port, "bind");
    const hostname = options.hostname ?? "127.0.0.1";
    try {
      const socket = await bun().udpSocket({
        hostname,
        port: options.port,
        socket: {
          data(_socket, data, port, address) {
            options.onMessage?.(data, { hostname: address, port, family: familyOf(address) });
          },
          error(_socket, error) {
            options.onError?.(toNetError(error));
          },
        },
      });
      return new BunDatagram(socket, hostname);
    } catch (error) {
      throw toNetError(error, { syscall: "bind", address: hostname, port: options.port });
    }
  },
};
