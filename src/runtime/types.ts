/**
 * The runtime adapter contract. Every model, the engine and the framer talk to sockets only
 * through these interfaces, so the same code runs on Deno, Bun, Node and the in-memory
 * transport.
 *
 * @module
 */

import type { NetError } from "./errors.ts";
import type { ProxyHeader } from "./proxy_header.ts";

/**
 * A socket address.
 *
 * @example
 * ```ts
 * const addr: Addr = { hostname: "127.0.0.1", port: 9000, family: "IPv4" };
 * ```
 */
export interface Addr {
  /** The IP address (or the memory transport's host name). */
  hostname: string;
  /** The port number. */
  port: number;
  /** The address family. */
  family: "IPv4" | "IPv6";
}

/**
 * The callbacks of one stream. Reading starts once they are set with
 * {@linkcode Stream.setHandlers}.
 *
 * @example
 * ```ts
 * const handlers: StreamHandlers = {
 *   onData(chunk) { console.log("got", chunk.byteLength, "bytes"); },
 *   onClose(error) { if (error) console.error(error.code); },
 * };
 * ```
 */
export interface StreamHandlers {
  /**
   * Bytes arrived. The receiver owns `chunk`: the adapter never writes into it again, unless
   * {@linkcode StreamHandlers.loanedChunks} is true.
   */
  onData?(chunk: Uint8Array): void;
  /**
   * True when `onData` copies whatever it keeps of a chunk past its return. The adapter may
   * then hand it a chunk that it fills again once `onData` returns: on Deno, its read buffer,
   * which saves a copy of every read. Chunks held while the stream is paused are still copies.
   * Default false: the receiver owns every chunk.
   */
  readonly loanedChunks?: boolean;
  /** The queued bytes fell to the low water mark after a `write` returned false. */
  onDrain?(): void;
  /** The peer sent FIN: no more data will arrive. Writing is still allowed. */
  onEnd?(): void;
  /** The stream closed. Fires exactly once, last, with the error if it closed on one. */
  onClose?(error?: NetError): void;
}

/**
 * A connected byte stream (TCP or in-memory).
 *
 * `write` never drops bytes: whatever the OS does not take right away is queued in order.
 * Bytes that were accepted by `write` are delivered to the peer, or the stream closes with an
 * error that reports their loss.
 *
 * @example
 * ```ts
 * import { defaultTransport } from "sockmodels/runtime";
 * const transport = await defaultTransport();
 * const stream = await transport.connect({ hostname: "127.0.0.1", port: 9000 });
 * stream.setHandlers({ onData: (chunk) => console.log(chunk) });
 * stream.write(new TextEncoder().encode("hello"));
 * await stream.close();
 * ```
 */
export interface Stream extends AsyncDisposable {
  /** A process-unique connection id. */
  readonly id: number;
  /** The local address. */
  readonly localAddr: Addr;
  /** The peer's address. */
  readonly remoteAddr: Addr;
  /**
   * Bytes accepted by `write` that the OS has not taken yet. While it is 0, the stream holds
   * none of the buffers it was given, and the caller may fill them again.
   */
  readonly bufferedAmount: number;
  /** True once `onClose` has fired. */
  readonly closed: boolean;
  /** Sets the callbacks; reading starts with the first call. */
  setHandlers(handlers: StreamHandlers): void;
  /**
   * Queues `bytes` for sending. Returns false once the queued bytes pass the high water mark;
   * nothing is dropped either way. The caller must not modify `bytes` afterwards.
   * Throws a `NetError` (EPIPE) after `end`, `close` or `reset`.
   */
  write(bytes: Uint8Array): boolean;
  /** Resolves once every queued byte was handed to the OS; rejects if the stream closes first. */
  flush(): Promise<void>;
  /** Stops reading from the OS, so TCP backpressure reaches the peer. */
  pause(): void;
  /** Resumes reading. */
  resume(): void;
  /** Flushes, then half-closes the sending side (FIN). */
  end(): void;
  /** Flushes, then closes. Resolves once `onClose` has fired. */
  close(): Promise<void>;
  /** Aborts at once: queued bytes are discarded and the peer sees a reset where possible. */
  reset(): void;
  /** Turns Nagle's algorithm off (true, the default) or on. */
  setNoDelay(noDelay?: boolean): void;
  /** Turns TCP keepalive on or off, with the idle delay before the first probe. */
  setKeepAlive(enable: boolean, initialDelayMs?: number): void;
  /**
   * What the TLS handshake settled, on a stream that was accepted or connected with `tls`;
   * undefined on a plain stream. A field the runtime does not report is undefined (Deno
   * reports only the ALPN protocol and the server name).
   */
  readonly tls?: TlsInfo;
  /**
   * The PROXY protocol header the connection opened with, on a stream accepted through
   * `proxyProtocol`; undefined otherwise. `remoteAddr` is then the client's address from it.
   */
  readonly proxy?: ProxyHeader;
  /**
   * Upgrades this plain stream to TLS in place (STARTTLS). A connected stream takes
   * {@linkcode TlsClientOptions} and starts the handshake; an accepted stream takes
   * {@linkcode TlsServerOptions} and answers it, where `capabilities.serverStartTls` says the
   * runtime can. Bytes written before the call go out in plaintext, bytes written after it wait
   * and go out encrypted; reading stops at the call and resumes over TLS. Resolves with what
   * the handshake settled, also found in `tls` from then on. A failed handshake closes the
   * stream and rejects with a TLS-coded `NetError`; a stream that cannot upgrade rejects with
   * ENOTSUP and stays as it was. Plaintext that arrives after the call and before the
   * handshake fails it with TLS_PROTOCOL, so that nothing injected before the upgrade is
   * mistaken for protected data. On Deno, a client calls it from `onData`, or after pausing
   * there: a read that is already waiting on the socket cannot be taken back.
   */
  startTls(options: TlsClientOptions | TlsServerOptions): Promise<TlsInfo>;
}

/**
 * A certificate, a key or a CA bundle in PEM, as text or as its bytes.
 *
 * @example
 * ```ts
 * const cert: Pem = "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n";
 * ```
 */
export type Pem = string | Uint8Array;

/**
 * TLS for a listener: every accepted stream has finished its handshake before `onAccept`
 * sees it. A handshake that fails or stalls closes that connection only, and is reported to
 * `onError` with a TLS code (see {@linkcode NetErrorCode}).
 *
 * @example
 * ```ts
 * declare const cert: string, key: string;
 * const tls: TlsServerOptions = { cert, key, alpnProtocols: ["chat/1"] };
 * ```
 */
export interface TlsServerOptions {
  /** The server's certificate chain: its leaf first, then any intermediates. */
  cert: Pem;
  /** The leaf's private key. */
  key: Pem;
  /** The CAs that client certificates must chain to (with `requestClientCert`). */
  ca?: Pem;
  /** Ask every client for a certificate and refuse one that sends none or a bad one (mTLS). */
  requestClientCert?: boolean;
  /** The application protocols to accept, most preferred first; a client offering none of them is refused. */
  alpnProtocols?: readonly string[];
  /** A handshake not done within this many milliseconds closes its connection. Default 10,000. */
  handshakeTimeoutMs?: number;
}

/**
 * TLS for a connection. The server's certificate is verified against `ca` (or the system's
 * roots) and the name `serverName`, unless `insecure` says otherwise.
 *
 * @example
 * ```ts
 * declare const ca: string;
 * const tls: TlsClientOptions = { ca, serverName: "localhost", alpnProtocols: ["chat/1"] };
 * ```
 */
export interface TlsClientOptions {
  /** The name to verify the certificate against and to send as SNI. Default: `hostname`. */
  serverName?: string;
  /** The CAs to trust instead of the system's roots. */
  ca?: Pem;
  /** A client certificate chain, for a server that asks for one. */
  cert?: Pem;
  /** The client certificate's private key. */
  key?: Pem;
  /** The application protocols to offer, most preferred first. */
  alpnProtocols?: readonly string[];
  /** Skip verifying the server's certificate. Only for tests and known peers. */
  insecure?: boolean;
  /** A handshake not done within this many milliseconds fails the connect. Default 10,000. */
  handshakeTimeoutMs?: number;
}

/**
 * The peer certificate of a TLS stream, as far as the runtime reports it.
 *
 * @example
 * ```ts
 * declare const cert: TlsPeerCertificate;
 * console.log(cert.subject, cert.validTo.toISOString());
 * ```
 */
export interface TlsPeerCertificate {
  /** The subject, such as `CN=localhost`. */
  subject: string;
  /** The issuer, such as `CN=sockmodels test CA`. */
  issuer: string;
  /** The subject alternative names, such as `DNS:localhost`. */
  subjectAltNames: string[];
  /** Not valid before this. */
  validFrom: Date;
  /** Not valid after this. */
  validTo: Date;
  /** The SHA-256 fingerprint, as colon-separated hex. */
  fingerprint256: string;
}

/**
 * What a TLS handshake settled.
 *
 * @example
 * ```ts
 * import type { Stream } from "sockmodels/runtime";
 * declare const stream: Stream;
 * if (stream.tls) console.log(stream.tls.protocol, stream.tls.alpnProtocol ?? "no ALPN");
 * ```
 */
export interface TlsInfo {
  /** The protocol version, such as `TLSv1.3`. */
  readonly protocol?: string;
  /** The cipher suite, such as `TLS_AES_256_GCM_SHA384`. */
  readonly cipher?: string;
  /** The application protocol both sides chose, if any. */
  readonly alpnProtocol?: string;
  /** The server name: the SNI the client sent (server side) or verified (client side). */
  readonly serverName?: string;
  /** The peer's certificate, if it sent one. */
  readonly peerCertificate?: TlsPeerCertificate;
}

/**
 * Options common to every stream the adapter creates.
 *
 * @example
 * ```ts
 * const opts: StreamOptions = { highWaterMark: 256 * 1024, allowHalfOpen: true };
 * ```
 */
export interface StreamOptions {
  /** `write` returns false above this many queued bytes. Default 64 KiB. */
  highWaterMark?: number;
  /** `onDrain` fires when the queue falls to this many bytes. Default: a quarter of the high water mark. */
  lowWaterMark?: number;
  /**
   * Keep the sending side open after the peer's FIN. When false (the default) the stream
   * flushes and closes by itself once the peer has ended.
   */
  allowHalfOpen?: boolean;
  /** Nagle off. Default true on every runtime. */
  noDelay?: boolean;
}

/**
 * Options for {@linkcode Transport.listen}.
 *
 * @example
 * ```ts
 * const opts: ListenOptions = { hostname: "127.0.0.1", port: 0, onAccept: (s) => s.close() };
 * ```
 */
export interface ListenOptions extends StreamOptions {
  /** The address to bind. Default `127.0.0.1`. */
  hostname?: string;
  /** The port; 0 picks an ephemeral port. */
  port: number;
  /** SO_REUSEPORT. Throws a NetError (ENOTSUP) where the runtime cannot do it. */
  reusePort?: boolean;
  /**
   * The accept backlog, where the runtime lets it be set (the kernel caps it at its own limit,
   * `net.core.somaxconn` on Linux). Default 1,024 where it can be set.
   */
  backlog?: number;
  /** Serve TLS: accepted streams have completed their handshake. */
  tls?: TlsServerOptions;
  /**
   * Called with every accepted stream. A connection whose peer reset while it waited to be
   * accepted is closed without a call: nothing can be sent to it, and skipping it keeps a
   * flood of such connections cheap.
   */
  onAccept(stream: Stream): void;
  /** Called when accepting fails on a live listener, or a client's TLS handshake fails. */
  onError?(error: NetError): void;
}

/**
 * Options for {@linkcode Transport.connect}.
 *
 * @example
 * ```ts
 * const opts: ConnectOptions = { hostname: "127.0.0.1", port: 9000, timeoutMs: 2000 };
 * ```
 */
export interface ConnectOptions extends StreamOptions {
  /** The host to connect to. */
  hostname: string;
  /** The port to connect to. */
  port: number;
  /** Aborting rejects with a NetError (ECANCELED) and closes the half-open socket. */
  signal?: AbortSignal;
  /** Rejects with a NetError (ETIMEDOUT) if the connection is not up in time. */
  timeoutMs?: number;
  /** Connect with TLS: the stream resolves once the handshake is done and the server verified. */
  tls?: TlsClientOptions;
}

/**
 * A listening socket.
 *
 * @example
 * ```ts
 * import { defaultTransport } from "sockmodels/runtime";
 * const transport = await defaultTransport();
 * await using listener = await transport.listen({ port: 0, onAccept: (s) => s.close() });
 * console.log(listener.addr.port);
 * ```
 */
export interface Listener extends AsyncDisposable {
  /** The bound address, with the real port when 0 was asked for. */
  readonly addr: Addr;
  /** Stops accepting and releases the port. Accepted streams stay open. */
  close(): Promise<void>;
}

/**
 * Options for {@linkcode Transport.bindDatagram}.
 *
 * @example
 * ```ts
 * const opts: DatagramOptions = { hostname: "127.0.0.1", port: 0, onMessage: (b, from) => {} };
 * ```
 */
export interface DatagramOptions {
  /** The address to bind. Default `127.0.0.1`. */
  hostname?: string;
  /** The port; 0 picks an ephemeral port. */
  port: number;
  /** Called with each datagram; the receiver owns the bytes. */
  onMessage?(bytes: Uint8Array, from: Addr): void;
  /** Called when the socket reports an error; the socket stays usable. */
  onError?(error: NetError): void;
}

/**
 * A bound UDP socket. Message boundaries are kept.
 *
 * @example
 * ```ts
 * import { defaultTransport } from "sockmodels/runtime";
 * const transport = await defaultTransport();
 * await using udp = await transport.bindDatagram({ port: 0, onMessage: (b) => console.log(b) });
 * await udp.send(new Uint8Array([1, 2, 3]), udp.addr);
 * ```
 */
export interface DatagramSocket extends AsyncDisposable {
  /** The bound address. */
  readonly addr: Addr;
  /** Sends one datagram. Resolves once the OS took it. */
  send(bytes: Uint8Array, to: { hostname: string; port: number }): Promise<void>;
  /** Closes the socket. */
  close(): Promise<void>;
}

/**
 * The names of the transports.
 *
 * @example
 * ```ts
 * const name: TransportName = "memory";
 * ```
 */
export type TransportName = "deno" | "bun" | "node" | "memory";

/**
 * What a transport can do on the runtime it runs on.
 *
 * @example
 * ```ts
 * import { defaultTransport } from "sockmodels/runtime";
 * const { capabilities } = await defaultTransport();
 * if (!capabilities.reset) console.log("reset() closes cleanly here");
 * ```
 */
export interface TransportCapabilities {
  /** `reset()` sends an RST, so the peer sees ECONNRESET. Otherwise it closes cleanly. */
  readonly reset: boolean;
  /** `reusePort` is honoured (otherwise `listen` rejects with ENOTSUP). */
  readonly reusePort: boolean;
  /** `backlog` is honoured (otherwise it is ignored). */
  readonly backlog: boolean;
  /** A pending connect is really cancelled by a timeout or an abort. */
  readonly cancelConnect: boolean;
  /** `listen` and `connect` take `tls` (otherwise they reject with ENOTSUP). */
  readonly tls: boolean;
  /** A TLS listener can ask for client certificates (`requestClientCert`). */
  readonly tlsClientCert: boolean;
  /** An accepted plain stream can be upgraded with `startTls` (STARTTLS on the server side). */
  readonly serverStartTls: boolean;
}

/**
 * One runtime's sockets behind the common contract.
 *
 * @example
 * ```ts
 * import { defaultTransport } from "sockmodels/runtime";
 * const transport: Transport = await defaultTransport();
 * const listener = await transport.listen({
 *   port: 0,
 *   onAccept(stream) {
 *     stream.setHandlers({ onData: (chunk) => stream.write(chunk) });
 *   },
 * });
 * ```
 */
export interface Transport {
  /** Which transport this is. */
  readonly name: TransportName;
  /** What this transport can do here. */
  readonly capabilities: TransportCapabilities;
  /** Binds and listens. Rejects with a NetError such as EADDRINUSE. */
  listen(options: ListenOptions): Promise<Listener>;
  /** Connects. Rejects with a NetError such as ECONNREFUSED, ETIMEDOUT or ECANCELED. */
  connect(options: ConnectOptions): Promise<Stream>;
  /** Binds a UDP socket. */
  bindDatagram(options: DatagramOptions): Promise<DatagramSocket>;
}
