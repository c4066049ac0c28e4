/**
 * The blocking model: `accept`, `recv` and `send` that wait (here: that you await), and one
 * task per connection, the seeds' thread per client.
 *
 * @module
 */

import { NetError } from "../runtime/errors.ts";
import {
  ListenerCore,
  SocketCore,
  type SocketCoreOptions,
  type WaitOptions,
  waitThenTake,
  waitUntil,
} from "../core/socket_core.ts";
import { CoreListener, CoreSocket } from "../core/core_socket.ts";
import { defaultTransport } from "../runtime/detect.ts";
import type { Transport } from "../runtime/types.ts";

/**
 * Options for blocking connect and listen.
 *
 * @example
 * ```ts
 * const opts: BlockingOptions = { receiveBufferSize: 16384 };
 * ```
 */
export interface BlockingOptions extends SocketCoreOptions {
  /** The transport to use. Default: the runtime's own. */
  transport?: Transport;
}

// The conditions the waits below wait for: one function each, shared by every wait.
// readiness().readable, without making a readiness object at each check.
const readableOrClosed = (core: SocketCore): boolean =>
  core.available > 0 || core.eof || core.error !== undefined || core.isClosed;

/** What a recvChunk gets once the socket is readable or closed; throws the socket's error. */
function takeChunk(core: SocketCore, maxBytes: number): Uint8Array {
  const chunk = core.readChunk(maxBytes);
  if (chunk !== undefined) return chunk;
  if (core.error) throw core.error;
  return new Uint8Array(0);
}
const sendRoomOrFailed = (core: SocketCore): boolean =>
  core.sendQueued < core.sendBufferSize || core.error !== undefined || core.streamClosed;
const pendingOrClosed = (core: ListenerCore): boolean => core.pending > 0 || core.isClosed;

/**
 * A connected socket whose calls wait.
 *
 * @example
 * ```ts
 * import { connect } from "sockmodels/blocking";
 * const sock = await connect("127.0.0.1", 9000, { timeoutMs: 2000 });
 * await sock.send(new TextEncoder().encode("hello"));
 * const buf = new Uint8Array(512);
 * const n = await sock.recv(buf); // 0 means the peer closed
 * await sock.close();
 * ```
 */
export class BlockingSocket extends CoreSocket {
  /**
   * Waits for data and copies up to `buffer.byteLength` bytes into `buffer`. Returns the count,
   * 0 once the peer has closed. Throws the connection's NetError (such as ECONNRESET).
   */
  async recv(buffer: Uint8Array, options: WaitOptions = {}): Promise<number> {
    const core = this.core;
    if (buffer.byteLength === 0) return 0;
    if (core.isClosed) throw new NetError("ENOTCONN", "Cannot recv: the socket is closed", { syscall: "recv" });
    await waitUntil(core, readableOrClosed, options, "recv");
    if (core.available > 0) return core.read(buffer);
    if (core.error) throw core.error;
    return 0;
  }

  /**
   * Waits for data and returns the next received bytes, at most `maxBytes`, in a buffer the
   * caller owns (empty once the peer has closed), like Python's `socket.recv(bufsize)`. Nothing
   * is set aside while it waits, which suits a server whose clients are mostly idle: their
   * tasks wait in this call, and none holds a receive buffer. Throws the connection's NetError.
   *
   * @example
   * ```ts
   * import type { BlockingSocket } from "sockmodels/blocking";
   * declare const sock: BlockingSocket;
   * for (let bytes = await sock.recvChunk(); bytes.byteLength > 0; bytes = await sock.recvChunk()) {
   *   await sock.send(bytes);
   * }
   * ```
   */
  recvChunk(maxBytes: number = 64 * 1024, options: WaitOptions = {}): Promise<Uint8Array> {
    if (!Number.isInteger(maxBytes) || maxBytes < 1) {
      return Promise.reject(new RangeError(`recvChunk maxBytes must be a positive integer, got ${maxBytes}`));
    }
    const core = this.core;
    if (core.isClosed) {
      return Promise.reject(new NetError("ENOTCONN", "Cannot recv: the socket is closed", { syscall: "recv" }));
    }
    // A task waits here for as long as its client is quiet, so the wait is one promise and one
    // wait object, which takes the chunk itself.
    return waitThenTake(core, readableOrClosed, takeChunk, maxBytes, options, "recv");
  }

  /**
   * Receives exactly `length` bytes. Throws a NetError (ECONNABORTED) if the peer closes
   * first, naming how many bytes had arrived.
   */
  async recvExact(length: number, options: WaitOptions = {}): Promise<Uint8Array> {
    if (!Number.isInteger(length) || length < 0) {
      throw new RangeError(`recvExact length must be a non-negative integer, got ${length}`);
    }
    const out = new Uint8Array(length);
    let filled = 0;
    while (filled < length) {
      const n = await this.recv(out.subarray(filled), options);
      if (n === 0) {
        throw new NetError(
          "ECONNABORTED",
          `The peer closed after ${filled} of ${length} bytes`,
          { syscall: "recv" },
        );
      }
      filled += n;
    }
    return out;
  }

  /**
   * Sends every byte, waiting while the send buffer is full. Resolves with the count once the
   * bytes are in the send buffer. The caller may reuse `bytes` afterwards.
   */
  async send(bytes: Uint8Array, options: WaitOptions = {}): Promise<number> {
    const core = this.core;
    core.write(bytes.slice());
    await waitUntil(core, sendRoomOrFailed, options, "send");
    if (core.error) throw core.error;
    return bytes.byteLength;
  }
}

/**
 * A listening socket whose `accept` waits.
 *
 * @example
 * ```ts
 * import { listen } from "sockmodels/blocking";
 * const listener = await listen({ port: 9000 });
 * const sock = await listener.accept();
 * ```
 */
export class BlockingListener extends CoreListener {
  /** Waits for the next connection. Throws ENOTCONN once the listener is closed. */
  async accept(options: WaitOptions = {}): Promise<BlockingSocket> {
    const core = this.core;
    await waitUntil(core, pendingOrClosed, options, "accept");
    const accepted = core.accept();
    if (!accepted) throw new NetError("ENOTCONN", "Cannot accept: the listener is closed", { syscall: "accept" });
    return new BlockingSocket(accepted);
  }
}

/**
 * Connects, waiting until the connection is up (or `timeoutMs` passes: ETIMEDOUT).
 *
 * @example
 * ```ts
 * const sock = await connect("127.0.0.1", 9000, { timeoutMs: 3000 });
 * ```
 */
export async function connect(
  hostname: string,
  port: number,
  options: BlockingOptions & WaitOptions = {},
): Promise<BlockingSocket> {
  const transport = options.transport ?? await defaultTransport();
  const core = SocketCore.connect(transport, hostname, port, options);
  await core.connected();
  return new BlockingSocket(core);
}

/**
 * Binds and listens.
 *
 * @example
 * ```ts
 * const listener = await listen({ hostname: "127.0.0.1", port: 0 });
 * console.log(listener.addr.port);
 * ```
 */
export async function listen(
  options: BlockingOptions & { hostname?: string; port: number; backlog?: number },
): Promise<BlockingListener> {
  const transport = options.transport ?? await defaultTransport();
  return new BlockingListener(await ListenerCore.listen(transport, options));
}

/**
 * Runs `handler` once per accepted connection, each in its own task (the seeds' thread per
 * client), and closes the socket when the handler returns. Resolves once the listener is
 * closed (or `signal` aborts) and every handler has finished. A handler's error closes its
 * connection and goes to `onError`.
 *
 * @example
 * ```ts
 * const listener = await listen({ port: 9000 });
 * await serveBlocking(listener, async (sock) => {
 *   const buf = new Uint8Array(4096);
 *   for (let n; (n = await sock.recv(buf)) > 0;) await sock.send(buf.subarray(0, n));
 * });
 * ```
 */
export async function serveBlocking(
  listener: BlockingListener,
  handler: (sock: BlockingSocket) => Promise<void>,
  options: { signal?: AbortSignal; onError?: (error: unknown, sock: BlockingSocket) => void } = {},
): Promise<void> {
  // A client's task costs one async call: it counts itself out, with no promise chained to it.
  const serveClient = async (sock: BlockingSocket, ended: () => void): Promise<void> => {
    try {
      try {
        await handler(sock);
      } catch (error) {
        options.onError?.(error, sock);
        sock.reset();
        return;
      }
      await sock.close();
    } catch (error) {
      options.onError?.(error, sock);
    } finally {
      ended();
    }
  };
  const onAbort = () => void listener.close();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) await listener.close();
  try {
    await acceptEach(listener, serveClient);
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * The accept loop of {@linkcode serveBlocking}, for a server that runs its clients' tasks itself
 * (the blocking host): accepts until the listener closes, starts `serve` for each socket, and
 * resolves once every task that started has called its `ended`. A task is one call of `serve`,
 * with no promise chained to it.
 *
 * @example
 * ```ts
 * import { acceptEach, listen } from "sockmodels/blocking";
 * const listener = await listen({ port: 0 });
 * const serving = acceptEach(listener, async (sock, ended) => {
 *   await sock.send(new TextEncoder().encode("hello\n"));
 *   await sock.close();
 *   ended();
 * });
 * await listener.close();
 * await serving;
 * ```
 */
export async function acceptEach(
  listener: BlockingListener,
  serve: (sock: BlockingSocket, ended: () => void) => void,
): Promise<void> {
  let running = 0;
  let allEnded: (() => void) | undefined;
  const ended = (): void => {
    if (--running === 0) allEnded?.();
  };
  while (true) {
    let sock: BlockingSocket;
    try {
      sock = await listener.accept();
    } catch (error) {
      if (listener.core.isClosed) break;
      throw error;
    }
    running++;
    serve(sock, ended);
  }
  if (running > 0) await new Promise<void>((resolve) => (allEnded = resolve));
}
