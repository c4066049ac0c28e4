/**
 * Counts what a server does, whatever its model: a transport wrapper that sees every
 * accepted connection, every byte in and out, every message (by framing both directions with
 * the server's codec), every error, and the bytes queued for sending.
 *
 * @module
 */

import type { FrameCodec, FrameDecoder } from "../framing/types.ts";
import type { NetError } from "../runtime/errors.ts";
import type { FramingError } from "../framing/errors.ts";
import type { ProxyHeader } from "../runtime/proxy_header.ts";
import { DelegatingStream } from "../runtime/delegating_stream.ts";
import type {
  Addr,
  ConnectOptions,
  DatagramOptions,
  DatagramSocket,
  Listener,
  ListenOptions,
  Stream,
  StreamHandlers,
  TlsInfo,
  Transport,
  TransportCapabilities,
  TransportName,
} from "../runtime/types.ts";

/**
 * The totals a {@linkcode TrafficCounter} keeps.
 *
 * @example
 * ```ts
 * declare const counter: TrafficCounter;
 * const totals: TrafficTotals = counter.totals();
 * console.log(`${totals.connections} connections, ${totals.messagesIn} messages in`);
 * ```
 */
export interface TrafficTotals {
  /** Connections open now. */
  connections: number;
  /** Connections accepted since start. */
  accepted: number;
  /** Messages received (frames of the server's codec; chunks for raw). */
  messagesIn: number;
  /** Messages sent. */
  messagesOut: number;
  /** Bytes received. */
  bytesIn: number;
  /** Bytes sent (queued with `write`). */
  bytesOut: number;
  /** Connections that closed on an error. */
  errors: number;
  /** Those connections by error code (a NetError's or FramingError's code, else the error's name). */
  errorsByCode?: Record<string, number>;
  /** Bytes queued for sending on all connections, not yet taken by the OS. */
  queuedBytes: number;
  /**
   * The open TLS connections by what their handshake settled, keyed by {@linkcode tlsLabel}
   * (`"TLSv1.3"`, `"TLSv1.3 h2"`); absent when none is open.
   */
  tls?: Record<string, number>;
}

/**
 * How logs and stats name a TLS connection: its protocol, then the ALPN protocol if one was
 * chosen.
 *
 * @example
 * ```ts
 * tlsLabel({ protocol: "TLSv1.3", alpnProtocol: "h2" }); // "TLSv1.3 h2"
 * ```
 */
export function tlsLabel(tls: Pick<TlsInfo, "protocol" | "alpnProtocol">): string {
  const protocol = tls.protocol ?? "TLS";
  return tls.alpnProtocol ? `${protocol} ${tls.alpnProtocol}` : protocol;
}

/**
 * What the counter reports about each connection.
 *
 * @example
 * ```ts
 * const events: TrafficEvents = {
 *   onOpen: (id, from, tls) => console.log(`#${id} from ${from.hostname}`, tls?.protocol ?? ""),
 *   onClose: (id, error) => console.log(`#${id} closed`, error?.code ?? ""),
 * };
 * ```
 */
export interface TrafficEvents {
  /**
   * A connection was accepted; `tls` is what its handshake settled, on a TLS connection, and
   * `proxy` the PROXY header it opened with, behind a balancer (`remote` is then the client).
   */
  onOpen?(id: number, remote: Addr, tls?: TlsInfo, proxy?: ProxyHeader): void;
  /**
   * A connection closed, with the error if it failed: the stream's own, or the framing error
   * of what the client sent, for which the server closed it.
   */
  onClose?(id: number, error?: NetError | FramingError): void;
}

/** Counts messages in one direction of one connection; stops at bad bytes and keeps why. */
class MessageCounter {
  #decoder: FrameDecoder | undefined;
  /** What the bytes broke, if they did; the server closes such a connection. */
  error: FramingError | undefined;
  constructor(codec: FrameCodec | undefined) {
    this.#decoder = codec?.decoder();
  }
  count(bytes: Uint8Array): number {
    if (this.#decoder === undefined) return this.error === undefined ? 1 : 0;
    try {
      return this.#decoder.push(bytes).length;
    } catch (error) {
      this.#decoder = undefined;
      this.error = error as FramingError;
      return (error as FramingError).frames?.length ?? 0;
    }
  }
}

class CountedStream extends DelegatingStream {
  readonly #counter: TrafficCounter;
  readonly #in: MessageCounter;
  readonly #out: MessageCounter;

  constructor(inner: Stream, counter: TrafficCounter, codec: FrameCodec | undefined) {
    super(inner);
    this.#counter = counter;
    this.#in = new MessageCounter(codec);
    this.#out = new MessageCounter(codec);
  }

  override setHandlers(handlers: StreamHandlers): void {
    const counter = this.#counter;
    this.inner.setHandlers({
      onData: (chunk) => {
        counter.bytesIn += chunk.byteLength;
        counter.messagesIn += this.#in.count(chunk);
        handlers.onData?.(chunk);
      },
      onDrain: handlers.onDrain && (() => handlers.onDrain!()),
      onEnd: handlers.onEnd && (() => handlers.onEnd!()),
      onClose: (error) => {
        counter.closed(this, error ?? this.#in.error);
        handlers.onClose?.(error);
      },
    });
  }

  override write(bytes: Uint8Array): boolean {
    const result = this.inner.write(bytes);
    this.#counter.bytesOut += bytes.byteLength;
    this.#counter.messagesOut += bytes.byteLength === 0 ? 0 : this.#out.count(bytes);
    return result;
  }
}

/**
 * Wraps a transport so that everything servers accept on it is counted.
 *
 * @example
 * ```ts
 * import { lengthPrefixed } from "sockmodels/framing";
 * import { defaultTransport } from "sockmodels/runtime";
 * import { startEcho } from "../apps/echo.ts";
 * const codec = lengthPrefixed({ lengthFieldLength: 4 });
 * const counter = new TrafficCounter(await defaultTransport(), codec);
 * const server = await startEcho("engine", { transport: counter.transport, framing: "lp4" });
 * setInterval(() => console.log(counter.totals()), 1000);
 * ```
 */
export class TrafficCounter {
  /** The counting transport, to give to a server. */
  readonly transport: Transport;
  /** Messages received. */
  messagesIn = 0;
  /** Messages sent. */
  messagesOut = 0;
  /** Bytes received. */
  bytesIn = 0;
  /** Bytes sent. */
  bytesOut = 0;
  /** Connections closed on an error. */
  errors = 0;
  /** Connections accepted. */
  accepted = 0;
  readonly #open = new Set<Stream>();
  readonly #errorsByCode: Record<string, number> = {};
  readonly #events: TrafficEvents;

  /** `codec` cuts messages for counting; undefined counts every chunk as one (raw). */
  constructor(inner: Transport, codec: FrameCodec | undefined, events: TrafficEvents = {}) {
    this.#events = events;
    const accept = (stream: Stream): Stream => {
      const counted = new CountedStream(stream, this, codec);
      this.accepted++;
      this.#open.add(counted);
      this.#events.onOpen?.(stream.id, stream.remoteAddr, stream.tls, stream.proxy);
      return counted;
    };
    this.transport = {
      get name(): TransportName {
        return inner.name;
      },
      get capabilities(): TransportCapabilities {
        return inner.capabilities;
      },
      listen(options: ListenOptions): Promise<Listener> {
        return inner.listen({ ...options, onAccept: (stream) => options.onAccept(accept(stream)) });
      },
      connect(options: ConnectOptions): Promise<Stream> {
        return inner.connect(options);
      },
      bindDatagram(options: DatagramOptions): Promise<DatagramSocket> {
        return inner.bindDatagram(options);
      },
    };
  }

  /** The totals now. */
  totals(): TrafficTotals {
    let queuedBytes = 0;
    let tls: Record<string, number> | undefined;
    for (const stream of this.#open) {
      queuedBytes += stream.bufferedAmount;
      if (stream.tls) {
        const label = tlsLabel(stream.tls);
        tls ??= {};
        tls[label] = (tls[label] ?? 0) + 1;
      }
    }
    return {
      connections: this.#open.size,
      accepted: this.accepted,
      messagesIn: this.messagesIn,
      messagesOut: this.messagesOut,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      errors: this.errors,
      errorsByCode: { ...this.#errorsByCode },
      queuedBytes,
      ...(tls ? { tls } : {}),
    };
  }

  /** @internal Called by a counted stream when it closes. */
  closed(stream: Stream, error?: NetError | FramingError): void {
    if (!this.#open.delete(stream)) return;
    if (error) {
      this.errors++;
      const code = (error as { code?: string }).code ?? error.name;
      this.#errorsByCode[code] = (this.#errorsByCode[code] ?? 0) + 1;
    }
    this.#events.onClose?.(stream.id, error);
  }
}
