/**
 * The PROXY protocol as a transport wrapper: every accepted connection must open with a
 * PROXY header (v1, v2 or either), which is read and taken off before the server sees the
 * connection. The server then sees the client's address as `remoteAddr` and the whole header
 * as `proxy`, so every model, host, the engine and every app get it without knowing of it.
 *
 * @module
 */

import { DelegatingStream } from "./delegating_stream.ts";
import { NetError } from "./errors.ts";
import { parseIpv4, parseIpv6, parseProxyHeader, type ProxyHeader, type ProxyVersion } from "./proxy_header.ts";
import type {
  Addr,
  Listener,
  ListenOptions,
  Stream,
  StreamHandlers,
  Transport,
  TransportCapabilities,
} from "./types.ts";

/**
 * Options of {@linkcode proxyProtocol}.
 *
 * @example
 * ```ts
 * const options: ProxyProtocolOptions = { version: "v2", trusted: ["10.0.0.0/8", "::1"] };
 * ```
 */
export interface ProxyProtocolOptions {
  /** Which header versions to accept. Default "any". */
  version?: ProxyVersion;
  /**
   * The networks a balancer may connect from, as CIDR (`10.0.0.0/8`, `fd00::/8`) or single
   * addresses. A connection from anywhere else is reset before a byte is read. Default: any.
   */
  trusted?: readonly string[];
  /** A connection whose header is not complete within this many milliseconds is reset. Default 3,000. */
  headerTimeoutMs?: number;
}

/**
 * A stream accepted through {@linkcode proxyProtocol}: `remoteAddr` is the client's address
 * from the header (the balancer's own for a LOCAL header or an UNKNOWN one), `proxy` the
 * header, and `balancerAddr` the address the connection really came from.
 *
 * @example
 * ```ts
 * import type { Stream } from "sockmodels/runtime";
 * declare const stream: Stream;
 * if (stream instanceof ProxiedStream) console.log(stream.proxy.version, stream.balancerAddr.hostname);
 * ```
 */
export class ProxiedStream extends DelegatingStream {
  readonly #proxy: ProxyHeader;
  readonly #remote: Addr;
  #rest: Uint8Array | undefined;
  #handlers: StreamHandlers | undefined;
  #paused = false;
  #delivering = false;
  /** Still inside the inner stream's onData that completed the header: the server's onAccept runs. */
  #accepting = true;
  #early: { end: boolean; close?: { error?: NetError } } = { end: false };

  /** @internal `rest` is what followed the header in the read that completed it. */
  constructor(inner: Stream, proxy: ProxyHeader, rest: Uint8Array | undefined) {
    super(inner);
    this.#proxy = proxy;
    this.#remote = proxy.command === "PROXY" && proxy.source ? proxy.source : inner.remoteAddr;
    this.#rest = rest && rest.byteLength > 0 ? rest : undefined;
  }

  /** @internal The connection ended or closed before the server set its handlers. */
  noteEarly(event: "end" | "close", error?: NetError): void {
    if (event === "end") this.#early.end = true;
    else this.#early.close = { error };
    if (this.#handlers) this.#flowRest();
  }

  /** The PROXY header the connection opened with. */
  override get proxy(): ProxyHeader {
    return this.#proxy;
  }

  /** The client's address, from the header. */
  override get remoteAddr(): Addr {
    return this.#remote;
  }

  /** The address of the balancer that connected. */
  get balancerAddr(): Addr {
    return this.inner.remoteAddr;
  }

  /** Sets the handlers; what followed the header in its read is the first `onData`. */
  override setHandlers(handlers: StreamHandlers): void {
    this.#handlers = handlers;
    this.inner.setHandlers(handlers);
    this.#flowRest();
  }

  /** Stops reading, what followed the header included. */
  override pause(): void {
    this.#paused = true;
    this.inner.pause();
  }

  /** Reads again, starting with what followed the header if it is still held. */
  override resume(): void {
    this.#paused = false;
    this.#flowRest();
  }

  /**
   * @internal Called once the server's onAccept returned, still inside the read that completed
   * the header. A server that set its handlers there gets what followed the header at once, and
   * the socket never stops; otherwise reading pauses until it sets them.
   */
  acceptReturned(): void {
    this.#accepting = false;
    const handlers = this.#handlers;
    if (handlers && !this.#paused && this.#early.end === false && this.#early.close === undefined) {
      const rest = this.#rest;
      this.#rest = undefined;
      if (rest) handlers.onData?.(rest);
      return;
    }
    this.inner.pause();
    if (handlers) this.#flowRest();
  }

  /** Hands over what came with the header, then lets the socket flow, unless paused. */
  #flowRest(): void {
    if (this.#accepting || this.#paused || this.#handlers === undefined || this.#delivering) return;
    const rest = this.#rest;
    if (rest === undefined) {
      const early = this.#early;
      if (early.end || early.close) {
        // What the inner stream reported while its old handlers were still set.
        this.#early = { end: false };
        if (early.end) this.#handlers.onEnd?.();
        if (early.close) this.#handlers.onClose?.(early.close.error);
        return;
      }
      this.inner.resume();
      return;
    }
    this.#delivering = true;
    queueMicrotask(() => {
      this.#delivering = false;
      if (this.#paused || this.#rest !== rest) return this.#flowRest();
      this.#rest = undefined;
      this.#handlers?.onData?.(rest);
      this.#flowRest();
    });
  }
}

/** One trusted network: its address bytes and prefix length. */
interface Network {
  bytes: Uint8Array;
  prefix: number;
}

function parseNetwork(cidr: string): Network {
  const [address, prefixText, extra] = cidr.split("/");
  const bytes = parseIpv4(address) ?? parseIpv6(address);
  const bits = bytes ? bytes.byteLength * 8 : 0;
  const prefix = prefixText === undefined ? bits : /^[0-9]{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!bytes || extra !== undefined || !(prefix >= 0 && prefix <= bits)) {
    throw new TypeError(`Trusted network must be an IP address or CIDR like 10.0.0.0/8, got ${JSON.stringify(cidr)}`);
  }
  return { bytes, prefix };
}

/** The address as 4 or 16 bytes; an IPv4-mapped IPv6 address counts as IPv4. */
function addressBytes(hostname: string): Uint8Array | undefined {
  const v4 = parseIpv4(hostname);
  if (v4) return v4;
  const v6 = parseIpv6(hostname.replace(/%.*$/, ""));
  if (v6 && v6.subarray(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff) return v6.slice(12);
  return v6;
}

function inNetwork(address: Uint8Array, network: Network): boolean {
  if (address.byteLength !== network.bytes.byteLength) return false;
  const whole = network.prefix >> 3;
  for (let i = 0; i < whole; i++) if (address[i] !== network.bytes[i]) return false;
  const bits = network.prefix & 7;
  if (bits === 0) return true;
  const mask = (0xff << (8 - bits)) & 0xff;
  return (address[whole] & mask) === (network.bytes[whole] & mask);
}

/**
 * Wraps `inner` so that its listeners read a PROXY header off every connection before
 * accepting it. A connection from outside `trusted`, with a malformed or unaccepted header,
 * or with no whole header within `headerTimeoutMs` is reset, and reported to the listener's
 * `onError` as a `NetError` (PROXY_PROTOCOL) that says what was wrong; the server goes on.
 * Connections made with `connect` are left alone.
 *
 * A listen with `tls` is refused (ENOTSUP): with TLS passed through the balancer, the header
 * comes before the handshake. Terminate TLS at the balancer, which then sends the header and
 * plaintext.
 *
 * @example
 * ```ts
 * import { defaultTransport, proxyProtocol } from "sockmodels/runtime";
 * import { startHost } from "sockmodels/hosts";
 * import { delimited } from "sockmodels/framing";
 * const transport = proxyProtocol(await defaultTransport(), { version: "v2", trusted: ["127.0.0.1"] });
 * const host = await startHost("engine", {
 *   transport,
 *   port: 0,
 *   codec: delimited(),
 *   app: { onFrame: (peer, frame) => peer.send(frame) },
 * });
 * await host.close();
 * ```
 */
export function proxyProtocol(inner: Transport, options: ProxyProtocolOptions = {}): Transport {
  const version = options.version ?? "any";
  if (version !== "v1" && version !== "v2" && version !== "any") {
    throw new TypeError(`PROXY protocol version must be v1, v2 or any, got ${JSON.stringify(version)}`);
  }
  const timeoutMs = options.headerTimeoutMs ?? 3000;
  if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
    throw new RangeError(`PROXY header timeout must be a positive number of milliseconds, got ${timeoutMs}`);
  }
  const trusted = options.trusted?.map(parseNetwork);

  const accept = (stream: Stream, listen: ListenOptions): void => {
    const refuse = (error: NetError) => {
      stream.reset();
      listen.onError?.(error);
    };
    const from = stream.remoteAddr;
    if (trusted) {
      const address = addressBytes(from.hostname);
      if (!address || !trusted.some((network) => inNetwork(address, network))) {
        refuse(new NetError("PROXY_PROTOCOL", `Connection from ${from.hostname} is not from a trusted balancer`));
        return;
      }
    }
    let buffered: Uint8Array | undefined;
    let settled = false;
    let accepted: ProxiedStream | undefined;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      refuse(
        new NetError(
          "PROXY_PROTOCOL",
          `No whole PROXY header from ${from.hostname}:${from.port} within ${timeoutMs} ms (${
            buffered?.byteLength ?? 0
          } bytes came)`,
        ),
      );
    }, timeoutMs);
    const give = (error: NetError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      refuse(error);
    };
    stream.setHandlers({
      onData(chunk) {
        if (settled) return;
        let bytes = chunk;
        if (buffered) {
          bytes = new Uint8Array(buffered.byteLength + chunk.byteLength);
          bytes.set(buffered);
          bytes.set(chunk, buffered.byteLength);
        }
        let parsed;
        try {
          parsed = parseProxyHeader(bytes, version);
        } catch (error) {
          give(error as NetError);
          return;
        }
        if (parsed === undefined) {
          buffered = bytes === chunk ? chunk.slice() : bytes;
          return;
        }
        settled = true;
        clearTimeout(timer);
        accepted = new ProxiedStream(stream, parsed.header, bytes.subarray(parsed.length));
        listen.onAccept(accepted);
        accepted.acceptReturned();
      },
      onEnd() {
        if (accepted) return accepted.noteEarly("end");
        give(
          new NetError("PROXY_PROTOCOL", `Connection from ${from.hostname}:${from.port} ended before its PROXY header`),
        );
      },
      onClose(error) {
        if (accepted) return accepted.noteEarly("close", error);
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        listen.onError?.(
          new NetError(
            "PROXY_PROTOCOL",
            `Connection from ${from.hostname}:${from.port} closed before its PROXY header`,
            {
              cause: error,
            },
          ),
        );
      },
    });
  };

  return {
    get name() {
      return inner.name;
    },
    get capabilities(): TransportCapabilities {
      return inner.capabilities;
    },
    listen(listen: ListenOptions): Promise<Listener> {
      if (listen.tls) {
        return Promise.reject(
          new NetError(
            "ENOTSUP",
            "TLS behind the PROXY protocol is not supported: terminate TLS at the balancer, which then sends the header and plaintext",
          ),
        );
      }
      return inner.listen({ ...listen, onAccept: (stream) => accept(stream, listen) });
    },
    connect: (connect) => inner.connect(connect),
    bindDatagram: (datagram) => inner.bindDatagram(datagram),
  };
}
