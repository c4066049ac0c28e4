/**
 * The WSAAsyncSelect model and MFC's `CAsyncSocket`: network events arrive as messages on one
 * message queue, and a single loop dispatches them in order, like a window procedure that
 * handles `WM_SOCKET`. {@linkcode asyncSelect} is the raw call; {@linkcode AsyncSocket} is the
 * MFC shape, with overridable `onAccept`, `onConnect`, `onReceive`, `onSend` and `onClose`.
 *
 * One message is posted per recorded network event, with the same re-enabling rules as the
 * WSAEventSelect model (the recording is shared with it): FD_READ is posted again only after a
 * receive, FD_WRITE only after a send that would block, FD_CLOSE once after the last byte was
 * read.
 *
 * @example
 * ```ts
 * import { AsyncSocket, MessageLoop } from "sockmodels/async-select";
 * class Client extends AsyncSocket {
 *   override onConnect(errorCode: number): void {
 *     if (errorCode === 0) this.send(new TextEncoder().encode("hello"));
 *   }
 *   override onReceive(): void {
 *     const buf = new Uint8Array(4096);
 *     const n = this.receive(buf);
 *     if (typeof n === "number") console.log(new TextDecoder().decode(buf.subarray(0, n)));
 *   }
 *   override onClose(): void {
 *     void this.close();
 *     this.loop.stop();
 *   }
 * }
 * const loop = new MessageLoop();
 * new Client(loop).connect("127.0.0.1", 9000);
 * await loop.run();
 * ```
 *
 * @module
 */

import { NetError } from "../runtime/errors.ts";
import { SocketCore, type SocketCoreOptions } from "../core/socket_core.ts";
import { defaultTransport } from "../runtime/detect.ts";
import type { Addr, Transport } from "../runtime/types.ts";
import {
  type EventSelectSocket,
  FD_ACCEPT,
  FD_CLOSE,
  FD_CONNECT,
  FD_OOB,
  FD_READ,
  FD_WRITE,
  NetworkEventRecorder,
} from "./event_select.ts";
import { NonBlockingListener, NonBlockingSocket, WOULD_BLOCK, type WouldBlock } from "./nonblocking.ts";

export { FD_ACCEPT, FD_CLOSE, FD_CONNECT, FD_OOB, FD_READ, FD_WRITE } from "./event_select.ts";
export { WOULD_BLOCK, type WouldBlock } from "./nonblocking.ts";

/**
 * The first message number free for applications, as in Windows.
 *
 * @example
 * ```ts
 * const WM_CHAT = WM_USER + 2;
 * ```
 */
export const WM_USER = 0x0400;
/**
 * The message number {@linkcode AsyncSocket} uses for its network events.
 *
 * @example
 * ```ts
 * import {
 *   asyncSelect, FD_CLOSE, FD_READ, type MessageLoop, type MessageTarget, WM_SOCKET,
 * } from "sockmodels/async-select";
 * import type { NonBlockingSocket } from "sockmodels/nonblocking";
 * declare const sock: NonBlockingSocket;
 * declare const loop: MessageLoop;
 * declare const target: MessageTarget;
 * asyncSelect(sock, loop, target, WM_SOCKET, FD_READ | FD_CLOSE);
 * ```
 */
export const WM_SOCKET: number = WM_USER + 1;

/**
 * The events an {@linkcode AsyncSocket} selects unless told otherwise: all six, as MFC's
 * `Create` does.
 *
 * @example
 * ```ts
 * import {
 *   ASYNC_SOCKET_DEFAULT_EVENTS, AsyncSocket, FD_WRITE, type MessageLoop,
 * } from "sockmodels/async-select";
 * declare const loop: MessageLoop;
 * const sock = new AsyncSocket(loop, { events: ASYNC_SOCKET_DEFAULT_EVENTS & ~FD_WRITE });
 * ```
 */
export const ASYNC_SOCKET_DEFAULT_EVENTS: number = FD_READ | FD_WRITE | FD_OOB | FD_ACCEPT | FD_CONNECT | FD_CLOSE;

/**
 * One posted message, like a Windows `MSG`.
 *
 * @example
 * ```ts
 * import {
 *   type LoopMessage, type MessageLoop, type MessageTarget, WM_USER,
 * } from "sockmodels/async-select";
 * declare const loop: MessageLoop;
 * declare const window: MessageTarget;
 * const msg: LoopMessage = { target: window, message: WM_USER + 7, wParam: "hello" };
 * loop.post(msg);
 * ```
 */
export interface LoopMessage {
  /** The window procedure that handles it. */
  readonly target: MessageTarget;
  /** The message number, such as {@linkcode WM_SOCKET}. */
  readonly message: number;
  /** The first parameter; for socket messages, the socket. */
  readonly wParam?: unknown;
  /** The second parameter; for socket messages, the event and error (see wsaGetSelectEvent). */
  readonly lParam?: number;
}

/**
 * Something messages are dispatched to, like a window and its window procedure.
 *
 * @example
 * ```ts
 * const window: MessageTarget = {
 *   handleMessage(msg) { console.log("message", msg.message); },
 * };
 * ```
 */
export interface MessageTarget {
  /** Handles one message. If it returns a promise, the loop waits for it before the next. */
  handleMessage(message: LoopMessage): void | Promise<void>;
}

/**
 * Options of a {@linkcode MessageLoop}.
 *
 * @example
 * ```ts
 * const loop = new MessageLoop({ onError: (error, msg) => console.error(msg.message, error) });
 * ```
 */
export interface MessageLoopOptions {
  /**
   * Called when a handler throws (or its promise rejects); the loop then goes on. Without it,
   * the error stops the loop and `run()` rejects with it.
   */
  onError?: (error: unknown, message: LoopMessage) => void;
}

// After this many dispatches in a row the loop lets timers and I/O run.
const BURST = 256;

/**
 * One FIFO message queue and the loop that dispatches it, in order, one message at a time.
 *
 * @example
 * ```ts
 * const loop = new MessageLoop();
 * const window = { handleMessage: (m: LoopMessage) => { console.log(m.wParam); loop.stop(); } };
 * loop.post({ target: window, message: WM_USER, wParam: "hi" });
 * await loop.run(); // prints "hi"
 * ```
 */
export class MessageLoop {
  #queue: LoopMessage[] = [];
  #head = 0;
  #running = false;
  #stopping = false;
  #dispatched = 0;
  #wake: (() => void) | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #onError: ((error: unknown, message: LoopMessage) => void) | undefined;

  /** Creates an empty loop. */
  constructor(options: MessageLoopOptions = {}) {
    if (options.onError !== undefined && typeof options.onError !== "function") {
      throw new TypeError(`onError must be a function, got ${typeof options.onError}`);
    }
    this.#onError = options.onError;
  }

  /** Messages posted and not dispatched yet. */
  get queueLength(): number {
    return this.#queue.length - this.#head;
  }

  /** Messages dispatched so far (including those whose handler failed). */
  get dispatched(): number {
    return this.#dispatched;
  }

  /** True while `run()` is dispatching. */
  get running(): boolean {
    return this.#running;
  }

  /** Appends a message to the queue (PostMessage). It is dispatched after every earlier one. */
  post(message: LoopMessage): void {
    if (typeof message !== "object" || message === null) {
      throw new TypeError(`A message must be an object, got ${message === null ? "null" : typeof message}`);
    }
    if (typeof message.target?.handleMessage !== "function") {
      throw new TypeError(`The message's target must have a handleMessage method, got ${typeof message.target}`);
    }
    if (!Number.isInteger(message.message)) {
      throw new TypeError(`The message number must be an integer, got ${String(message.message)}`);
    }
    this.#queue.push(message);
    this.#wake?.();
  }

  /**
   * Dispatches messages in order until `stop()`. A handler that returns a promise is awaited
   * before the next message. Resolves once stopped; rejects with a handler's error when there
   * is no `onError`. Messages still queued stay for a later `run()`.
   */
  async run(): Promise<void> {
    if (this.#running) throw new Error("The message loop is already running");
    this.#running = true;
    this.#stopping = false;
    try {
      let burst = 0;
      while (!this.#stopping) {
        if (this.#head === this.#queue.length) {
          burst = 0;
          await new Promise<void>((resolve) => (this.#wake = resolve));
          this.#wake = undefined;
          continue;
        }
        const message = this.#queue[this.#head];
        this.#queue[this.#head++] = undefined as unknown as LoopMessage;
        if (this.#head === this.#queue.length) {
          this.#queue.length = 0;
          this.#head = 0;
        } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
          this.#queue.splice(0, this.#head);
          this.#head = 0;
        }
        try {
          const result = message.target.handleMessage(message);
          if (result !== undefined && typeof (result as Promise<void>).then === "function") await result;
        } catch (error) {
          if (!this.#onError) throw error;
          this.#onError(error, message);
        } finally {
          this.#dispatched++;
        }
        if (++burst >= BURST && !this.#stopping) {
          burst = 0;
          await new Promise<void>((resolve) => {
            this.#wake = resolve;
            this.#timer = setTimeout(resolve, 0);
          });
          clearTimeout(this.#timer);
          this.#timer = undefined;
          this.#wake = undefined;
        }
      }
    } finally {
      this.#running = false;
      this.#stopping = false;
    }
  }

  /** Makes `run()` return once the message being handled (if any) is done. */
  stop(): void {
    if (!this.#running) return;
    this.#stopping = true;
    this.#wake?.();
  }
}

/**
 * Builds a socket message's `lParam` from an FD_* event and a Winsock error number
 * (WSAMAKESELECTREPLY).
 *
 * @example
 * ```ts
 * const lParam = wsaMakeSelectReply(FD_CONNECT, 10061);
 * ```
 */
export function wsaMakeSelectReply(event: number, errorCode: number): number {
  return (((errorCode & 0xffff) << 16) | (event & 0xffff)) >>> 0;
}

/**
 * The FD_* event of a socket message's `lParam` (WSAGETSELECTEVENT).
 *
 * @example
 * ```ts
 * import { FD_READ, type LoopMessage, wsaGetSelectEvent } from "sockmodels/async-select";
 * import type { NonBlockingSocket } from "sockmodels/nonblocking";
 * declare const msg: LoopMessage;
 * declare const sock: NonBlockingSocket;
 * const buf = new Uint8Array(4096);
 * if (wsaGetSelectEvent(msg.lParam ?? 0) === FD_READ) sock.tryRecv(buf);
 * ```
 */
export function wsaGetSelectEvent(lParam: number): number {
  return lParam & 0xffff;
}

/**
 * The Winsock error number of a socket message's `lParam`, 0 for none (WSAGETSELECTERROR).
 *
 * @example
 * ```ts
 * import { type LoopMessage, wsaGetSelectError } from "sockmodels/async-select";
 * declare const msg: LoopMessage;
 * const error = wsaGetSelectError(msg.lParam ?? 0); // e.g. 10061 for a refused connect
 * ```
 */
export function wsaGetSelectError(lParam: number): number {
  return (lParam >>> 16) & 0xffff;
}

/**
 * Asks for the FD_* events in `networkEvents` on `sock` to be posted to `loop` as messages
 * `{ target, message, wParam: sock, lParam: wsaMakeSelectReply(event, error) }`
 * (WSAAsyncSelect). One message is posted per recorded event. Calling it again (or
 * `eventSelect`) replaces the selection; a mask of 0 cancels it. Messages already posted stay
 * in the queue.
 *
 * @example
 * ```ts
 * import {
 *   asyncSelect, FD_CLOSE, FD_CONNECT, FD_READ, type MessageLoop, type MessageTarget, WM_SOCKET,
 *   wsaGetSelectEvent,
 * } from "sockmodels/async-select";
 * import type { NonBlockingSocket } from "sockmodels/nonblocking";
 * declare const sock: NonBlockingSocket;
 * declare const loop: MessageLoop;
 * const buf = new Uint8Array(4096);
 * const window: MessageTarget = {
 *   handleMessage(msg) {
 *     switch (wsaGetSelectEvent(msg.lParam ?? 0)) {
 *       case FD_CONNECT: asyncSelect(sock, loop, window, WM_SOCKET, FD_READ | FD_CLOSE); break;
 *       case FD_READ: sock.tryRecv(buf); break;
 *       case FD_CLOSE: void sock.close(); break;
 *     }
 *   },
 * };
 * asyncSelect(sock, loop, window, WM_SOCKET, FD_CONNECT);
 * ```
 */
export function asyncSelect(
  sock: EventSelectSocket,
  loop: MessageLoop,
  target: MessageTarget,
  message: number,
  networkEvents: number,
): void {
  if (!(sock instanceof NonBlockingSocket) && !(sock instanceof NonBlockingListener)) {
    throw new TypeError(`The socket must be a NonBlockingSocket or NonBlockingListener, got ${typeof sock}`);
  }
  if (!(loop instanceof MessageLoop)) throw new TypeError(`The loop must be a MessageLoop, got ${typeof loop}`);
  if (typeof target?.handleMessage !== "function") {
    throw new TypeError(`The target must have a handleMessage method, got ${typeof target}`);
  }
  if (!Number.isInteger(message)) throw new TypeError(`The message number must be an integer, got ${String(message)}`);
  if (networkEvents === 0) {
    NetworkEventRecorder.detach(sock);
    return;
  }
  NetworkEventRecorder.attach(sock, networkEvents, (event, errorCode) => {
    loop.post({ target, message, wParam: sock, lParam: wsaMakeSelectReply(event, errorCode) });
  });
}

/**
 * Options of an {@linkcode AsyncSocket}.
 *
 * @example
 * ```ts
 * const opts: AsyncSocketOptions = { events: FD_READ | FD_CLOSE, sendBufferSize: 8192 };
 * ```
 */
export interface AsyncSocketOptions extends SocketCoreOptions {
  /** The transport to use. Default: the runtime's own. */
  transport?: Transport;
  /** The FD_* events to be told about. Default {@linkcode ASYNC_SOCKET_DEFAULT_EVENTS}. */
  events?: number;
}

/**
 * Options of {@linkcode AsyncSocket.listen}.
 *
 * @example
 * ```ts
 * import type { AsyncSocket } from "sockmodels/async-select";
 * declare const server: AsyncSocket;
 * await server.listen({ hostname: "127.0.0.1", port: 9000, backlog: 128 });
 * ```
 */
export interface AsyncListenOptions {
  /** The address to bind. Default `127.0.0.1`. */
  hostname?: string;
  /** The port; 0 picks an ephemeral port. */
  port: number;
  /** The accept backlog, where the runtime lets it be set. */
  backlog?: number;
}

/**
 * Options of {@linkcode AsyncSocket.connect}.
 *
 * @example
 * ```ts
 * import type { AsyncSocket } from "sockmodels/async-select";
 * declare const sock: AsyncSocket;
 * sock.connect("127.0.0.1", 9000, { timeoutMs: 3000 });
 * ```
 */
export interface AsyncConnectOptions {
  /** Fail the connect (onConnect with WSAETIMEDOUT) after this many milliseconds. */
  timeoutMs?: number;
  /** Aborting fails the connect (onConnect with WSA_OPERATION_ABORTED). */
  signal?: AbortSignal;
}

type State = "idle" | "listening" | "connecting" | "connected" | "closed";

/**
 * A socket in the shape of MFC's `CAsyncSocket`. Its network events arrive as messages on a
 * {@linkcode MessageLoop} and call the overridable `onAccept`, `onConnect`, `onReceive`,
 * `onSend` and `onClose` with a Winsock error number (0 for none). `receive` and `send` never
 * wait: they return WOULD_BLOCK (WSAEWOULDBLOCK), and the next `onReceive` or `onSend` says
 * when to try again. As in MFC, `onReceive` is skipped when its data was already read, and
 * nothing is dispatched to a socket after `close()`.
 *
 * @example
 * ```ts
 * class Echo extends AsyncSocket {
 *   override onReceive(): void {
 *     const buf = new Uint8Array(4096);
 *     const n = this.receive(buf);
 *     if (typeof n === "number" && n > 0) this.send(buf.subarray(0, n));
 *   }
 * }
 * class Server extends AsyncSocket {
 *   override onAccept(): void {
 *     this.accept(new Echo(this.loop));
 *   }
 * }
 * const loop = new MessageLoop();
 * await new Server(loop).listen({ port: 9000 });
 * await loop.run();
 * ```
 */
export class AsyncSocket implements MessageTarget, AsyncDisposable {
  /** The loop its messages are posted to. */
  readonly loop: MessageLoop;
  #options: AsyncSocketOptions;
  #events: number;
  #state: State = "idle";
  #sock: NonBlockingSocket | undefined;
  #listener: NonBlockingListener | undefined;

  /** Creates a socket on `loop` (MFC's construction and `Create`). */
  constructor(loop: MessageLoop, options: AsyncSocketOptions = {}) {
    if (!(loop instanceof MessageLoop)) throw new TypeError(`The loop must be a MessageLoop, got ${typeof loop}`);
    const events = options.events ?? ASYNC_SOCKET_DEFAULT_EVENTS;
    checkEvents(events);
    // Validates the buffer sizes now rather than at the first connect or accept.
    new SocketCore(undefined, options);
    this.loop = loop;
    this.#options = options;
    this.#events = events;
  }

  /** The non-blocking socket underneath, once listening, connecting or accepted. */
  get socket(): NonBlockingSocket | NonBlockingListener | undefined {
    return this.#sock ?? this.#listener;
  }

  /** The bound address of a listening socket. */
  get addr(): Addr | undefined {
    return this.#listener?.addr;
  }

  /** The local address of a connected socket. */
  get localAddr(): Addr | undefined {
    return this.#sock?.localAddr;
  }

  /** The peer's address of a connected socket. */
  get remoteAddr(): Addr | undefined {
    return this.#sock?.remoteAddr;
  }

  /** True once `close()` was called. */
  get isClosed(): boolean {
    return this.#state === "closed";
  }

  /** The FD_* events selected. */
  get events(): number {
    return this.#events;
  }

  /** Called when a connection is waiting; call `accept()`. */
  onAccept(_errorCode: number): void | Promise<void> {}

  /** Called when a `connect` finished: 0 when connected, else the Winsock error number. */
  onConnect(_errorCode: number): void | Promise<void> {}

  /** Called when data is waiting; call `receive()`. */
  onReceive(_errorCode: number): void | Promise<void> {}

  /** Called when the socket can send: after connecting, and after a send that would block. */
  onSend(_errorCode: number): void | Promise<void> {}

  /** Called once the peer closed (0) or reset (10054) the connection and all data was read. */
  onClose(_errorCode: number): void | Promise<void> {}

  /** Called for urgent data; never happens on these runtimes. */
  onOutOfBandData(_errorCode: number): void | Promise<void> {}

  /**
   * Binds and listens (MFC's `Create` with a port, then `Listen`); `onAccept` then reports
   * waiting connections. Rejects with a NetError such as EADDRINUSE.
   */
  async listen(options: AsyncListenOptions): Promise<void> {
    this.#claim("listen");
    this.#state = "listening";
    try {
      const transport = this.#options.transport ?? await defaultTransport();
      const listener = await NonBlockingListener.listen({
        transport,
        hostname: options.hostname,
        port: options.port,
        backlog: options.backlog,
        receiveBufferSize: this.#options.receiveBufferSize,
        sendBufferSize: this.#options.sendBufferSize,
      });
      if (this.isClosed) {
        await listener.close();
        throw new NetError("ENOTCONN", "Cannot listen: the socket was closed meanwhile", { syscall: "listen" });
      }
      this.#listener = listener;
      this.#select();
    } catch (error) {
      if (this.#state === "listening") this.#state = "idle";
      throw error;
    }
  }

  /**
   * Starts connecting and returns at once (a connect that reports WSAEWOULDBLOCK);
   * `onConnect` reports the outcome, then `onSend` says the socket can send.
   */
  connect(hostname: string, port: number, options: AsyncConnectOptions = {}): void {
    if (typeof hostname !== "string" || hostname === "") {
      throw new TypeError(`The host name to connect to must be a non-empty string, got ${String(hostname)}`);
    }
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new RangeError(`The port to connect to must be an integer from 1 to 65535, got ${port}`);
    }
    if (options.timeoutMs !== undefined && !(options.timeoutMs >= 0)) {
      throw new RangeError(
        `The connect timeout must be a non-negative number of milliseconds, got ${options.timeoutMs}`,
      );
    }
    this.#claim("connect");
    this.#state = "connecting";
    const start = (transport: Transport) => {
      if (this.isClosed) return;
      const core = SocketCore.connect(transport, hostname, port, {
        receiveBufferSize: this.#options.receiveBufferSize,
        sendBufferSize: this.#options.sendBufferSize,
        timeoutMs: options.timeoutMs,
        signal: options.signal,
      });
      this.#sock = new NonBlockingSocket(core);
      this.#select();
    };
    if (this.#options.transport) start(this.#options.transport);
    else void defaultTransport().then(start);
  }

  /**
   * Takes a waiting connection into a new `AsyncSocket` on this loop (with this socket's
   * options), or returns null if none is waiting (WSAEWOULDBLOCK). Its events are selected at
   * once.
   */
  accept(): AsyncSocket | null;
  /**
   * Takes a waiting connection into `socket`, which must be new (MFC's `Accept(rConnectedSocket)`),
   * or returns null if none is waiting. Its events are selected at once.
   */
  accept<T extends AsyncSocket>(socket: T): T | null;
  accept(socket?: AsyncSocket): AsyncSocket | null {
    const listener = this.#listener;
    if (!listener || this.isClosed) {
      throw new NetError("EINVAL", "Cannot accept: the socket is not listening", { syscall: "accept" });
    }
    if (socket !== undefined) {
      if (!(socket instanceof AsyncSocket)) {
        throw new TypeError(`The socket to accept into must be an AsyncSocket, got ${typeof socket}`);
      }
      if (socket.#state !== "idle") {
        throw new TypeError(`The socket to accept into must be new, but it is ${socket.#state}`);
      }
    }
    const accepted = listener.tryAccept();
    if (accepted === WOULD_BLOCK) return null;
    const target = socket ?? new AsyncSocket(this.loop, this.#options);
    target.#state = "connected";
    target.#sock = accepted;
    target.#select();
    return target;
  }

  /**
   * Copies waiting bytes into `buffer` and returns the count, 0 once the peer closed and all
   * was read, or WOULD_BLOCK. Throws the connection's NetError (such as ECONNRESET).
   */
  receive(buffer: Uint8Array): number | WouldBlock {
    if (!(buffer instanceof Uint8Array)) {
      throw new TypeError(`The receive buffer must be a Uint8Array, got ${typeof buffer}`);
    }
    return this.#connectedSocket("receive")?.tryRecv(buffer) ?? WOULD_BLOCK;
  }

  /**
   * Sends as much of `bytes` as there is room for and returns the count (possibly partial), or
   * WOULD_BLOCK; `onSend` says when to send the rest. The caller may reuse `bytes` afterwards.
   */
  send(bytes: Uint8Array): number | WouldBlock {
    if (!(bytes instanceof Uint8Array)) {
      throw new TypeError(`The bytes to send must be a Uint8Array, got ${typeof bytes}`);
    }
    return this.#connectedSocket("send")?.trySend(bytes) ?? WOULD_BLOCK;
  }

  /** Changes the FD_* events to be told about (MFC's `AsyncSelect`). */
  asyncSelect(events: number): void {
    checkEvents(events);
    this.#events = events;
    this.#select();
  }

  /** Sends FIN after the queued bytes (MFC's `ShutDown(sends)`); receiving goes on. */
  shutdown(): void {
    this.#connectedSocket("shutdown")?.shutdown();
  }

  /** Closes the socket (MFC's `Close`): no message is dispatched to it afterwards. */
  close(): Promise<void> {
    if (this.#state === "closed") return Promise.resolve();
    this.#state = "closed";
    const sock = this.#sock ?? this.#listener;
    return sock ? sock.close() : Promise.resolve();
  }

  /** Same as `close()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Dispatches a socket message to the matching `on…` method; called by the loop. */
  handleMessage(message: LoopMessage): void | Promise<void> {
    if (message.message !== WM_SOCKET || this.isClosed) return;
    const current = this.#sock ?? this.#listener;
    // A message posted for an earlier socket of this object (or by anyone else) is dropped.
    if (current === undefined || message.wParam !== current) return;
    const lParam = message.lParam ?? 0;
    const errorCode = wsaGetSelectError(lParam);
    switch (wsaGetSelectEvent(lParam)) {
      case FD_READ:
        // As MFC does: no onReceive when the data was already read by an earlier receive.
        if (errorCode === 0 && this.#sock !== undefined && this.#sock.core.available === 0) return;
        return this.onReceive(errorCode);
      case FD_WRITE:
        return this.onSend(errorCode);
      case FD_OOB:
        return this.onOutOfBandData(errorCode);
      case FD_ACCEPT:
        return this.onAccept(errorCode);
      case FD_CONNECT:
        if (this.#state === "connecting") this.#state = "connected";
        return this.onConnect(errorCode);
      case FD_CLOSE:
        return this.onClose(errorCode);
    }
  }

  #claim(operation: string): void {
    if (this.#state !== "idle") {
      throw new NetError(
        this.#state === "closed" ? "ENOTCONN" : "EISCONN",
        `Cannot ${operation}: the socket is already ${this.#state}`,
        { syscall: operation },
      );
    }
  }

  #select(): void {
    const sock = this.#sock ?? this.#listener;
    if (sock && !this.isClosed) asyncSelect(sock, this.loop, this, WM_SOCKET, this.#events);
  }

  #connectedSocket(operation: string): NonBlockingSocket | undefined {
    if (this.#sock) return this.#sock;
    if (this.#state === "connecting") return undefined;
    const why = this.#state === "idle" ? "not connected" : this.#state;
    throw new NetError("ENOTCONN", `Cannot ${operation}: the socket is ${why}`, { syscall: operation });
  }
}

function checkEvents(events: unknown): void {
  const known = ASYNC_SOCKET_DEFAULT_EVENTS;
  const valid = typeof events === "number" && Number.isInteger(events) && events >= 0 && events <= known &&
    (events & ~known) === 0;
  if (!valid) {
    throw new RangeError(
      `The network event mask must combine FD_READ, FD_WRITE, FD_OOB, FD_ACCEPT, FD_CONNECT and FD_CLOSE, got ${
        String(events)
      }`,
    );
  }
}
