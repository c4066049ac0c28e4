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
import { NO_HANDLERS } from "../runtime/stream_base.ts";
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
  /** How long the server's data handler took per read. */
  handler?: LatencyHistogram;
  /** In a process group, each worker's share. */
  workers?: WorkerShare[];
}

/**
 * One worker's share of a group's totals.
 *
 * @example
 * ```ts
 * const share: WorkerShare = { worker: 1, pid: 4242, connections: 51, accepted: 60, messagesIn: 900, messagesOut: 900 };
 * ```
 */
export interface WorkerShare {
  /** The worker's number. */
  worker: number;
  /** Its process id. */
  pid: number;
  /** Its open connections. */
  connections: number;
  /** The connections it accepted. */
  accepted: number;
  /** The messages it received. */
  messagesIn: number;
  /** The messages it sent. */
  messagesOut: number;
}

/**
 * The upper bounds, in seconds, of the buckets of {@linkcode LatencyHistogram}: 10 µs to 1 s.
 *
 * @example
 * ```ts
 * console.log(HANDLER_BUCKETS_SECONDS.length); // 14
 * ```
 */
export const HANDLER_BUCKETS_SECONDS: readonly number[] = [
  0.00001,
  0.000025,
  0.00005,
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.1,
  0.25,
  1,
];

/**
 * A histogram of durations over {@linkcode HANDLER_BUCKETS_SECONDS}: how many fell at or
 * below each bound (and above the one before it), and the count and sum of all.
 *
 * @example
 * ```ts
 * const h: LatencyHistogram = { counts: new Array(15).fill(0), count: 0, sumSeconds: 0 };
 * ```
 */
export interface LatencyHistogram {
  /** One count per bucket, then the count above the last bound. */
  counts: number[];
  /** How many durations. */
  count: number;
  /** Their sum, in seconds. */
  sumSeconds: number;
}

/**
 * The sum of several servers' totals (the workers of a group): counts add up, and so do the
 * keyed counts and the histograms.
 *
 * @example
 * ```ts
 * declare const workers: TrafficTotals[];
 * const group: TrafficTotals = sumTotals(workers);
 * ```
 */
export function sumTotals(list: readonly TrafficTotals[]): TrafficTotals {
  const sum: TrafficTotals = {
    connections: 0,
    accepted: 0,
    messagesIn: 0,
    messagesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    errors: 0,
    errorsByCode: {},
    queuedBytes: 0,
  };
  const addKeyed = (into: Record<string, number>, from: Record<string, number> | undefined) => {
    for (const [key, n] of Object.entries(from ?? {})) into[key] = (into[key] ?? 0) + n;
  };
  for (const t of list) {
    sum.connections += t.connections;
    sum.accepted += t.accepted;
    sum.messagesIn += t.messagesIn;
    sum.messagesOut += t.messagesOut;
    sum.bytesIn += t.bytesIn;
    sum.bytesOut += t.bytesOut;
    sum.errors += t.errors;
    sum.queuedBytes += t.queuedBytes;
    addKeyed(sum.errorsByCode!, t.errorsByCode);
    if (t.tls) addKeyed(sum.tls ??= {}, t.tls);
    if (t.handler) {
      const h = sum.handler ??= {
        counts: new Array(HANDLER_BUCKETS_SECONDS.length + 1).fill(0),
        count: 0,
        sumSeconds: 0,
      };
      t.handler.counts.forEach((n, i) => (h.counts[i] += n));
      h.count += t.handler.count;
      h.sumSeconds += t.handler.sumSeconds;
    }
  }
  return sum;
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

/**
 * The messages `bytes` complete in one direction of a stream: by the server's codec, or one per
 * chunk for raw (no decoder); none once the direction's bytes broke the codec. A framing error
 * is returned, with the frames before it.
 */
function countMessages(
  decoder: FrameDecoder | undefined,
  broken: FramingError | undefined,
  bytes: Uint8Array,
): number | FramingError {
  if (decoder === undefined) return broken === undefined ? 1 : 0;
  try {
    return decoder.push(bytes).length;
  } catch (error) {
    return error as FramingError;
  }
}

/** A counted connection; it is its inner stream's handlers, so that it costs no closures. */
class CountedStream extends DelegatingStream implements StreamHandlers {
  readonly #counter: TrafficCounter;
  #handlers: StreamHandlers = NO_HANDLERS;
  /** Undefined for raw, where every chunk is one message. */
  readonly #codec: FrameCodec | undefined;
  /** The decoders of each direction, made when its first bytes pass. */
  #in: FrameDecoder | undefined;
  #out: FrameDecoder | undefined;
  /** What the bytes received broke, if they did; the server closes such a connection. */
  #inError: FramingError | undefined;
  #outError: FramingError | undefined;

  constructor(inner: Stream, counter: TrafficCounter, codec: FrameCodec | undefined) {
    super(inner);
    this.#counter = counter;
    this.#codec = codec;
  }

  override setHandlers(handlers: StreamHandlers): void {
    this.#handlers = handlers;
    this.inner.setHandlers(this);
  }

  onData(chunk: Uint8Array): void {
    const counter = this.#counter;
    counter.bytesIn += chunk.byteLength;
    if (this.#in === undefined && this.#inError === undefined) this.#in = this.#codec?.decoder();
    const counted = countMessages(this.#in, this.#inError, chunk);
    if (typeof counted === "number") counter.messagesIn += counted;
    else {
      this.#in = undefined;
      this.#inError = counted;
      counter.messagesIn += counted.frames?.length ?? 0;
    }
    const start = performance.now();
    this.#handlers.onData?.(chunk);
    counter.handled((performance.now() - start) / 1000);
  }

  onDrain(): void {
    this.#handlers.onDrain?.();
  }

  onEnd(): void {
    this.#handlers.onEnd?.();
  }

  onClose(error?: NetError): void {
    this.#counter.closed(this, error ?? this.#inError);
    this.#handlers.onClose?.(error);
  }

  override write(bytes: Uint8Array): boolean {
    const result = this.inner.write(bytes);
    const counter = this.#counter;
    counter.bytesOut += bytes.byteLength;
    if (bytes.byteLength === 0) return result;
    if (this.#out === undefined && this.#outError === undefined) this.#out = this.#codec?.decoder();
    const counted = countMessages(this.#out, this.#outError, bytes);
    if (typeof counted === "number") counter.messagesOut += counted;
    else {
      this.#out = undefined;
      this.#outError = counted;
      counter.messagesOut += counted.frames?.length ?? 0;
    }
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
  readonly #handler: LatencyHistogram = {
    counts: new Array(HANDLER_BUCKETS_SECONDS.length + 1).fill(0),
    count: 0,
    sumSeconds: 0,
  };
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
      handler: { ...this.#handler, counts: [...this.#handler.counts] },
    };
  }

  /** @internal Called by a counted stream with how long its data handler took. */
  handled(seconds: number): void {
    const h = this.#handler;
    let bucket = 0;
    while (bucket < HANDLER_BUCKETS_SECONDS.length && seconds > HANDLER_BUCKETS_SECONDS[bucket]) bucket++;
    h.counts[bucket]++;
    h.count++;
    h.sumSeconds += seconds;
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
