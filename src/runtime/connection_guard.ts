/**
 * A transport wrapper that bounds what clients can hold on a server: how many connections
 * are open at once, and how long a connection may stay silent. Every server built on a
 * transport gets both without a line of its own.
 *
 * - Past `maxConnections`, a new connection is reset as soon as it is accepted, so a flood of
 *   clients costs the server one descriptor for an instant each, and the clients it already
 *   serves go on. Keeping the limit below the process's descriptor limit is what keeps a
 *   server from running out of descriptors, where the runtimes differ (Node closes what it
 *   cannot accept, Bun and Deno leave such clients waiting in the backlog).
 * - A connection that received no byte for `idleTimeoutMs` is reset, and its `onClose`
 *   reports an `ETIMEDOUT` NetError.
 *
 * @module
 */

import { NetError } from "./errors.ts";
import { DelegatingStream } from "./delegating_stream.ts";
import { NO_HANDLERS } from "./stream_base.ts";
import type { Listener, ListenOptions, Stream, StreamHandlers, Transport } from "./types.ts";

/**
 * Options of {@linkcode guardConnections}.
 *
 * @example
 * ```ts
 * const options: ConnectionGuardOptions = { maxConnections: 10_000, idleTimeoutMs: 300_000 };
 * ```
 */
export interface ConnectionGuardOptions {
  /** Connections open at once; further ones are reset at accept. Default unlimited. */
  maxConnections?: number;
  /** A connection that received nothing for this long is reset with ETIMEDOUT. Default never. */
  idleTimeoutMs?: number;
  /** Called for every connection refused because `maxConnections` were open. */
  onRefused?(stream: Stream, open: number): void;
  /** Called for every connection closed for being idle. */
  onIdle?(stream: Stream, error: NetError): void;
  /**
   * Called when accepting failed, such as EMFILE when the process ran out of descriptors (the
   * listener goes on accepting), before the listen options' own `onError`.
   */
  onAcceptError?(error: NetError): void;
}

/** A guarded connection; it is its inner stream's handlers, so that it costs no closures. */
class GuardedStream extends DelegatingStream implements StreamHandlers {
  lastActivity = 0;
  idleError: NetError | undefined;
  #released = false;
  #handlers: StreamHandlers = NO_HANDLERS;
  readonly #onRelease: (stream: GuardedStream) => void;
  readonly #tracksActivity: boolean;

  constructor(inner: Stream, tracksActivity: boolean, onRelease: (stream: GuardedStream) => void) {
    super(inner);
    this.lastActivity = Date.now();
    this.#tracksActivity = tracksActivity;
    this.#onRelease = onRelease;
  }

  override setHandlers(handlers: StreamHandlers): void {
    this.#handlers = handlers;
    super.setHandlers(this);
  }

  /** Loaned chunks pass through as they are: it keeps none. */
  get loanedChunks(): boolean {
    return this.#handlers.loanedChunks === true;
  }

  onData(chunk: Uint8Array): void {
    if (this.#tracksActivity) this.lastActivity = Date.now();
    this.#handlers.onData?.(chunk);
  }

  onDrain(): void {
    this.#handlers.onDrain?.();
  }

  onEnd(): void {
    this.#handlers.onEnd?.();
  }

  onClose(error?: NetError): void {
    this.release();
    this.#handlers.onClose?.(this.idleError ?? error);
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#onRelease(this);
  }
}

function checkLimit(name: string, value: number | undefined, min: number): void {
  if (value !== undefined && !(Number.isFinite(value) && value >= min)) {
    throw new RangeError(`${name} must be a number of at least ${min}, got ${value}`);
  }
}

/**
 * Wraps a transport so that its listeners refuse connections past `maxConnections` and reset
 * those idle for `idleTimeoutMs`. Connections it makes (`connect`) are not guarded.
 *
 * @example
 * ```ts
 * import { guardConnections } from "sockmodels/runtime";
 * import { nodeTransport } from "sockmodels/runtime/node";
 * const transport = guardConnections(nodeTransport, { maxConnections: 1000, idleTimeoutMs: 60_000 });
 * const listener = await transport.listen({ port: 0, onAccept: (s) => s.setHandlers({}) });
 * await listener.close();
 * ```
 */
export function guardConnections(transport: Transport, options: ConnectionGuardOptions): Transport {
  const { maxConnections, idleTimeoutMs } = options;
  checkLimit("Max connections", maxConnections, 0);
  checkLimit("Idle timeout", idleTimeoutMs, 1);
  return {
    name: transport.name,
    capabilities: transport.capabilities,
    connect: (connectOptions) => transport.connect(connectOptions),
    bindDatagram: (datagramOptions) => transport.bindDatagram(datagramOptions),
    async listen(listenOptions: ListenOptions): Promise<Listener> {
      const open = new Set<GuardedStream>();
      const release = (stream: GuardedStream) => open.delete(stream);
      let sweep: ReturnType<typeof setInterval> | undefined;
      if (idleTimeoutMs !== undefined) {
        sweep = setInterval(() => {
          const now = Date.now();
          for (const stream of open) {
            if (now - stream.lastActivity < idleTimeoutMs || stream.closed) continue;
            const error = new NetError(
              "ETIMEDOUT",
              `Connection ${stream.id} received nothing for ${
                now - stream.lastActivity
              } ms, past the idle timeout of ${idleTimeoutMs} ms`,
            );
            stream.idleError = error;
            options.onIdle?.(stream, error);
            stream.reset();
          }
        }, Math.max(10, Math.min(1000, Math.floor(idleTimeoutMs / 4))));
      }
      let listener: Listener;
      try {
        listener = await transport.listen({
          ...listenOptions,
          onError(error) {
            options.onAcceptError?.(error);
            listenOptions.onError?.(error);
          },
          onAccept(inner) {
            if (maxConnections !== undefined && open.size >= maxConnections) {
              options.onRefused?.(inner, open.size);
              inner.reset();
              return;
            }
            const stream = new GuardedStream(inner, idleTimeoutMs !== undefined, release);
            open.add(stream);
            listenOptions.onAccept(stream);
          },
        });
      } catch (error) {
        clearInterval(sweep);
        throw error;
      }
      const close = async () => {
        clearInterval(sweep);
        await listener.close();
      };
      return { addr: listener.addr, close, [Symbol.asyncDispose]: close };
    },
  };
}
