/**
 * The `node:net` transport. It runs on Node, and also on Bun and Deno through their Node
 * compatibility layers.
 *
 * @module
 */

import * as net from "node:net";
import * as tls from "node:tls";
import * as dgram from "node:dgram";
import process from "node:process";
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
import { checkListenOptions, connectDeadline, familyOf } from "./util.ts";
import {
  checkTlsClientOptions,
  checkTlsServerOptions,
  handshakeTimeoutError,
  handshakeTimeoutOf,
  pemText,
  toPeerCertificate,
} from "./_tls.ts";

/**
 * A socket's address. Node asks the OS again on every read of an address it could not learn,
 * as for a connection reset while it waited to be accepted, so the port is read only when the
 * host was there.
 */
function addressOf(hostname: string | undefined, socket: net.Socket, port: "localPort" | "remotePort"): Addr {
  if (hostname === undefined) return { hostname: "", port: 0, family: familyOf("") };
  return { hostname, port: socket[port] ?? 0, family: familyOf(hostname) };
}

class NodeStream extends StreamBase {
  readonly localAddr: Addr;
  readonly remoteAddr: Addr;
  #socket: net.Socket;
  #onWritten = (error?: Error | null): void => {
    if (error) this._fail(toNetError(error, { syscall: "write" }));
    else this._progress();
  };

  #tlsInfo: TlsInfo | undefined;
  /** The name a client dialled, which `startTls` verifies by default. */
  readonly #dialedHost: string | undefined;
  #handshaking = false;
  readonly #onData = (chunk: Uint8Array) => this._deliver(chunk);
  readonly #onEnd = () => this._peerEnd();
  readonly #onError = (error: Error) =>
    this._fail(toNetError(error, { syscall: this.#handshaking ? "handshake" : "read", ...remoteOf(this.#socket) }));
  readonly #onClose = () => this._transportClosed();

  /** `local` is the listener's address when it is bound to one, which every accepted socket shares. */
  constructor(socket: net.Socket, options: StreamOptions, dialedHost?: string, local?: Addr) {
    super(options);
    this.#socket = socket;
    this._accepted = dialedHost === undefined;
    this.#dialedHost = dialedHost;
    if ((socket as tls.TLSSocket).encrypted) this.#tlsInfo = nodeTlsInfo(socket as tls.TLSSocket);
    this.localAddr = local ?? addressOf(socket.localAddress, socket, "localPort");
    this.remoteAddr = addressOf(socket.remoteAddress, socket, "remotePort");
    socket.setNoDelay(options.noDelay ?? true);
    socket.pause();
    this.#listen(socket);
  }

  #listen(socket: net.Socket): void {
    socket.on("data", this.#onData);
    socket.on("end", this.#onEnd);
    socket.on("error", this.#onError);
    socket.on("close", this.#onClose);
  }

  override get tls(): TlsInfo | undefined {
    return this.#tlsInfo;
  }

  protected override _startTlsUnsupported(): NetError | undefined {
    return nodeTlsWorks() ? undefined : tlsUnavailable("starttls");
  }

  protected override _upgradeTls(role: TlsRole, options: TlsClientOptions | TlsServerOptions): Promise<TlsInfo> {
    const raw = this.#socket;
    const ms = handshakeTimeoutOf(options);
    let secure: tls.TLSSocket;
    if (role === "server") {
      const t = options as TlsServerOptions;
      secure = new tls.TLSSocket(raw, {
        isServer: true,
        secureContext: tls.createSecureContext({
          cert: pemText(t.cert),
          key: pemText(t.key),
          ca: t.ca === undefined ? undefined : pemText(t.ca),
        }),
        ALPNProtocols: t.alpnProtocols?.slice(),
      });
    } else {
      secure = tls.connect(clientTlsOptions(options as TlsClientOptions, this.#dialedHost!, raw));
    }
    raw.off("data", this.#onData);
    raw.off("end", this.#onEnd);
    raw.off("error", this.#onError);
    raw.off("close", this.#onClose);
    // From here the TLS socket is the stream's: its errors and its close are the stream's.
    this.#socket = secure;
    this.#handshaking = true;
    // Paused, it would never read the peer's half of the handshake.
    this.#listen(secure);
    return new Promise<TlsInfo>((resolve) => {
      const remote = this.remoteAddr;
      const timer = setTimeout(() => this._fail(handshakeTimeoutError(ms, remote.hostname, remote.port)), ms);
      secure.once("close", () => clearTimeout(timer));
      secure.once(role === "server" ? "secure" : "secureConnect", () => {
        clearTimeout(timer);
        this.#handshaking = false;
        secure.pause();
        resolve(this.#tlsInfo = nodeTlsInfo(secure));
      });
    });
  }

  protected override _pump(): void {
    const socket = this.#socket;
    let chunk = this._takeChunk();
    if (chunk === undefined) {
      if (this._wantsProgress) this._requestProgress();
      return this._progress();
    }
    // Node queues whatever the kernel does not take. A write callback costs time on every
    // write, so the last write of a pump asks for one only when someone waits for progress.
    while (true) {
      const next = this._takeChunk();
      if (next === undefined) {
        if (this._wantsProgress) socket.write(chunk, this.#onWritten);
        else socket.write(chunk);
        return;
      }
      socket.write(chunk);
      chunk = next;
    }
  }

  protected override _requestProgress(): void {
    const socket = this.#socket;
    // An empty write's callback runs once every earlier write has reached the kernel.
    if (socket.writableLength > 0 && !socket.destroyed) socket.write(EMPTY, this.#onWritten);
    else queueMicrotask(() => this._progress());
  }

  protected override _osBufferedAmount(): number {
    return this.#socket.writableLength;
  }

  protected override _startReading(): void {
    this.#socket.resume();
  }

  protected override _stopReading(): void {
    // Node 20's TLS client then reads a reset from the peer as a clean end (docs/tls.md).
    this.#socket.pause();
  }

  protected override _shutdownWrite(): void {
    this.#socket.end();
  }

  protected override get _releaseSendsFin(): boolean {
    return !(this.#socket as tls.TLSSocket).encrypted;
  }

  protected override _release(abort: boolean): void {
    const socket = this.#socket;
    if (socket.destroyed) {
      // "close" is still to come, or came already while we were not looking.
      if (socket.closed) queueMicrotask(() => this._transportClosed());
      return;
    }
    // After end() Node refuses an RST (EINVAL and no "close"), so a reset then only destroys.
    // A TLS socket cannot reset its TLS handle, so the TCP socket under it is reset.
    const tcp = (socket as { _parent?: net.Socket })._parent ?? socket;
    if (abort && this._localAbort && !socket.writableEnded && typeof tcp.resetAndDestroy === "function") {
      if (tcp === socket) {
        tcp.resetAndDestroy();
      } else {
        // Node 20 can crash (SIGSEGV) when the TCP socket under a TLS socket is reset in the
        // same turn as the handshake finished, so the reset waits for the next turn.
        setImmediate(() => {
          if (!tcp.destroyed) tcp.resetAndDestroy();
          socket.destroy();
        });
      }
    } else {
      socket.destroy();
    }
  }

  setNoDelay(noDelay = true): void {
    this.#socket.setNoDelay(noDelay);
  }

  setKeepAlive(enable: boolean, initialDelayMs = 0): void {
    this.#socket.setKeepAlive(enable, initialDelayMs);
  }
}

/** `node:tls` options for a client that runs its handshake over the connected socket `tcp`. */
function clientTlsOptions(t: TlsClientOptions, hostname: string, tcp: net.Socket, highWaterMark?: number) {
  const name = t.serverName ?? hostname;
  return {
    highWaterMark,
    socket: tcp,
    allowHalfOpen: true,
    // SNI carries names only; an address is verified against the certificate's IP entries.
    servername: net.isIP(name) ? undefined : name,
    checkServerIdentity: (_host, cert) => tls.checkServerIdentity(name, cert),
    ca: t.ca === undefined ? undefined : pemText(t.ca),
    cert: t.cert === undefined ? undefined : pemText(t.cert),
    key: t.key === undefined ? undefined : pemText(t.key),
    ALPNProtocols: t.alpnProtocols?.slice(),
    rejectUnauthorized: !t.insecure,
  } as tls.ConnectionOptions;
}

/** What a finished handshake settled, read at once: a closed socket no longer reports it. */
function nodeTlsInfo(socket: tls.TLSSocket): TlsInfo {
  return {
    protocol: socket.getProtocol() ?? undefined,
    cipher: socket.getCipher()?.standardName,
    alpnProtocol: socket.alpnProtocol || undefined,
    serverName: (socket as { servername?: string | false }).servername || undefined,
    peerCertificate: toPeerCertificate(socket.getPeerCertificate()),
  };
}

/** A socket that got RST or was destroyed during its handshake may have lost its address. */
function remoteOf(socket: net.Socket): { address?: string; port?: number } {
  return { address: socket.remoteAddress, port: socket.remotePort };
}

class NodeListener implements Listener {
  readonly addr: Addr;
  #server: net.Server;
  #closed: Promise<void> | undefined;

  constructor(server: net.Server) {
    this.#server = server;
    const a = server.address() as net.AddressInfo;
    this.addr = { hostname: a.address, port: a.port, family: familyOf(a.address) };
  }

  close(): Promise<void> {
    // net.Server's close callback waits for every accepted connection to end; the contract
    // only promises that accepting stops and the port is released, which happens at once.
    if (!this.#closed) {
      this.#server.close();
      this.#closed = Promise.resolve();
    }
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Deno's `node:tls` keeps reading a paused socket (so a slow reader would get no backpressure)
 * and cannot reset one; on Deno, TLS is the deno transport's.
 */
function nodeTlsWorks(): boolean {
  return !("Deno" in globalThis);
}

function tlsUnavailable(syscall: string): NetError {
  return new NetError(
    "ENOTSUP",
    "TLS over Deno's node:tls would lose backpressure; use the deno transport for TLS on Deno",
    { syscall },
  );
}

function nodeSupportsReusePort(): boolean {
  if (typeof process === "undefined" || !process.versions?.node) return false;
  if ("Bun" in globalThis || "Deno" in globalThis) return false;
  const [major, minor] = process.versions.node.split(".").map(Number);
  return major > 22 || (major === 22 && minor >= 12);
}

class NodeDatagram implements DatagramSocket {
  readonly addr: Addr;
  #socket: dgram.Socket;
  #closed: Promise<void> | undefined;

  constructor(socket: dgram.Socket) {
    this.#socket = socket;
    const a = socket.address();
    this.addr = { hostname: a.address, port: a.port, family: familyOf(a.address) };
  }

  send(bytes: Uint8Array, to: { hostname: string; port: number }): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#socket.send(bytes, to.port, to.hostname, (error) => {
        if (error) {
          reject(toNetError(error, { syscall: "send", address: to.hostname, port: to.port }));
        } else resolve();
      });
    });
  }

  close(): Promise<void> {
    return this.#closed ??= new Promise<void>((resolve) => this.#socket.close(() => resolve()));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Binds a UDP socket with `node:dgram`. Shared by the transports whose runtime has no native
 * datagram API available.
 *
 * @example
 * ```ts
 * const udp = await bindNodeDatagram({ port: 0, onMessage: (bytes, from) => console.log(from) });
 * await udp.close();
 * ```
 */
export function bindNodeDatagram(options: DatagramOptions): Promise<DatagramSocket> {
  const hostname = options.hostname ?? "127.0.0.1";
  const socket = dgram.createSocket(familyOf(hostname) === "IPv6" ? "udp6" : "udp4");
  return new Promise<DatagramSocket>((resolve, reject) => {
    const onBindError = (error: Error) => {
      socket.close();
      reject(toNetError(error, { syscall: "bind", address: hostname, port: options.port }));
    };
    socket.once("error", onBindError);
    socket.on("message", (msg: Uint8Array, rinfo: dgram.RemoteInfo) => {
      options.onMessage?.(msg, {
        hostname: rinfo.address,
        port: rinfo.port,
        family: familyOf(rinfo.address),
      });
    });
    socket.bind(options.port, hostname, () => {
      socket.off("error", onBindError);
      socket.on("error", (error: Error) => options.onError?.(toNetError(error)));
      resolve(new NodeDatagram(socket));
    });
  });
}

/**
 * The `node:net` transport.
 *
 * @example
 * ```ts
 * import { nodeTransport } from "sockmodels/runtime/node";
 * const listener = await nodeTransport.listen({
 *   port: 0,
 *   onAccept: (s) => s.setHandlers({ onData: (c) => s.write(c) }),
 * });
 * ```
 */
export const nodeTransport: Transport = {
  name: "node",
  capabilities: {
    reset: typeof net.Socket.prototype.resetAndDestroy === "function",
    reusePort: nodeSupportsReusePort(),
    backlog: true,
    cancelConnect: true,
    tls: nodeTlsWorks(),
    tlsClientCert: nodeTlsWorks(),
    serverStartTls: nodeTlsWorks(),
  },

  listen(options: ListenOptions): Promise<Listener> {
    const hostname = options.hostname ?? "127.0.0.1";
    try {
      checkListenOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    if (options.reusePort && !nodeSupportsReusePort()) {
      return Promise.reject(
        new NetError(
          "ENOTSUP",
          `reusePort needs Node 22.12 or later; this is ${describeRuntime()}`,
          { syscall: "listen", address: hostname, port: options.port },
        ),
      );
    }
    const serverOptions = {
      allowHalfOpen: true,
      pauseOnConnect: true,
      noDelay: options.noDelay ?? true,
      highWaterMark: options.highWaterMark,
    } as net.ServerOpts;
    let server: net.Server;
    if (options.tls) {
      if (!nodeTlsWorks()) return Promise.reject(tlsUnavailable("listen"));
      const t = options.tls;
      try {
        checkTlsServerOptions(t);
        // A paused raw socket would never finish its handshake; the stream pauses the TLS socket.
        delete serverOptions.pauseOnConnect;
        server = tls.createServer({
          ...serverOptions,
          cert: pemText(t.cert),
          key: pemText(t.key),
          ca: t.ca === undefined ? undefined : pemText(t.ca),
          requestCert: t.requestClientCert ?? false,
          rejectUnauthorized: t.requestClientCert ?? false,
          ALPNProtocols: t.alpnProtocols?.slice(),
          handshakeTimeout: handshakeTimeoutOf(t),
        });
      } catch (error) {
        return Promise.reject(
          error instanceof TypeError || error instanceof RangeError
            ? error
            : toNetError(error, { syscall: "listen", address: hostname, port: options.port }),
        );
      }
      server.on("tlsClientError", (error: Error, socket: tls.TLSSocket) => {
        const where = remoteOf(socket);
        socket.destroy();
        const code = (error as { code?: string }).code;
        options.onError?.(
          code === "ERR_TLS_HANDSHAKE_TIMEOUT" || /handshake timeout/i.test(error.message)
            ? handshakeTimeoutError(handshakeTimeoutOf(t), where.address ?? "", where.port ?? 0)
            : toNetError(error, { syscall: "handshake", ...where }),
        );
      });
    } else {
      server = net.createServer(serverOptions);
    }
    return new Promise<Listener>((resolve, reject) => {
      const onListenError = (error: Error) => {
        reject(toNetError(error, { syscall: "listen", address: hostname, port: options.port }));
      };
      server.once("error", onListenError);
      // Asking the OS for each accepted socket's own address costs a call per connection.
      let sharedLocal: Addr | undefined;
      server.on(options.tls ? "secureConnection" : "connection", (socket: net.Socket) => {
        // No address means the peer reset while the connection waited to be accepted: nothing
        // can be sent to it, and Deno's accept skips such a connection too. Shedding it here
        // keeps a reset flood from costing a whole stream per connection.
        if (socket.remoteAddress === undefined) {
          socket.destroy();
          return;
        }
        options.onAccept(new NodeStream(socket, options, undefined, sharedLocal));
      });
      const listenOptions: net.ListenOptions & { reusePort?: boolean } = {
        host: hostname,
        port: options.port,
        backlog: options.backlog ?? DEFAULT_BACKLOG,
      };
      if (options.reusePort) listenOptions.reusePort = true;
      server.listen(listenOptions, () => {
        server.off("error", onListenError);
        const bound = server.address() as net.AddressInfo;
        if (bound.address !== "0.0.0.0" && bound.address !== "::") {
          sharedLocal = Object.freeze({ hostname: bound.address, port: bound.port, family: familyOf(bound.address) });
        }
        server.on("error", (error: Error) => options.onError?.(toNetError(error, { syscall: "accept" })));
        resolve(new NodeListener(server));
      });
    });
  },

  connect(options: ConnectOptions): Promise<Stream> {
    const { hostname, port } = options;
    if (options.tls) {
      if (!nodeTlsWorks()) return Promise.reject(tlsUnavailable("connect"));
      try {
        checkTlsClientOptions(options.tls);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return connectDeadline(options, (settle) => {
      const plain = {
        host: hostname,
        port,
        allowHalfOpen: true,
        noDelay: options.noDelay ?? true,
        highWaterMark: options.highWaterMark,
      } as net.NetConnectOpts;
      const t = options.tls;
      let socket: net.Socket;
      let handshakeTimer: ReturnType<typeof setTimeout> | undefined;
      let tcpUp = false;
      const onError = (error: Error) => {
        clearTimeout(handshakeTimer);
        socket.destroy();
        settle.reject(toNetError(error, { syscall: tcpUp ? "handshake" : "connect", address: hostname, port }));
      };
      const connected = () => {
        clearTimeout(handshakeTimer);
        socket.off("error", onError);
        (socket as { _parent?: net.Socket })._parent?.off("error", onError);
        settle.resolve(new NodeStream(socket, options, hostname));
      };
      if (t) {
        // The TCP socket is made here so that a reset can reach it under the TLS socket.
        const tcp = net.connect(plain);
        tcp.once("error", onError);
        socket = tls.connect(clientTlsOptions(t, hostname, tcp, options.highWaterMark));
        const ms = handshakeTimeoutOf(t);
        tcp.once("connect", () => {
          tcpUp = true;
          handshakeTimer = setTimeout(() => {
            socket.destroy();
            settle.reject(handshakeTimeoutError(ms, hostname, port));
          }, ms);
        });
        socket.once("secureConnect", connected);
      } else {
        socket = net.connect(plain);
        socket.once("connect", connected);
      }
      socket.pause();
      socket.once("error", onError);
      return () => {
        clearTimeout(handshakeTimer);
        socket.destroy();
      };
    });
  },

  bindDatagram(options: DatagramOptions): Promise<DatagramSocket> {
    return bindNodeDatagram(options);
  },
};

function describeRuntime(): string {
  if ("Bun" in globalThis) return "Bun's node:net";
  if ("Deno" in globalThis) return "Deno's node:net";
  return `Node ${process.versions.node}`;
}

const EMPTY = new Uint8Array(0);

/**
 * Node's own default of 511 overflows under connect-and-reset churn even while the event loop
 * keeps up: the kernel drops SYNs, and each costs its client a one-second retransmit. A longer
 * queue is not free either: a client waits behind everything queued before it, which at 4,096
 * took a probe over 500 ms. 1,024 (tokio's default) kept both in bounds (docs/bench/attack.md).
 */
const DEFAULT_BACKLOG = 1024;
