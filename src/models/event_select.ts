/**
 * The WSAEventSelect model: each socket is tied to an event object and a set of network events
 * (`FD_READ`, `FD_WRITE`, `FD_ACCEPT`, `FD_CONNECT`, `FD_CLOSE`). When one of them happens it is
 * recorded and the event is set; the application waits for up to 64 events at once with
 * {@linkcode waitForMultipleEvents}, then asks which network events happened with
 * {@linkcode enumNetworkEvents}, and works on the socket with the non-blocking calls
 * (`tryRecv`, `trySend`, `tryAccept`).
 *
 * Recording follows Winsock's re-enabling rules: once an event is recorded it is not recorded
 * again until its re-enabling call is made. `tryRecv` re-enables FD_READ (and if data is still
 * waiting after it, FD_READ is recorded again at once), `tryAccept` re-enables FD_ACCEPT, and a
 * `trySend` that would block (WOULD_BLOCK, or fewer bytes taken than asked) re-enables
 * FD_WRITE, which is recorded once room frees. FD_CONNECT and FD_CLOSE are recorded once, and
 * FD_CLOSE only after every received byte was read.
 *
 * @example
 * ```ts
 * import { NonBlockingListener } from "sockmodels/nonblocking";
 * import {
 *   createEvent, enumNetworkEvents, eventSelect, FD_ACCEPT, waitForMultipleEvents, WAIT_OBJECT_0,
 * } from "sockmodels/event-select";
 * const listener = await NonBlockingListener.listen({ port: 9000 });
 * const event = createEvent();
 * eventSelect(listener, event, FD_ACCEPT);
 * const index = (await waitForMultipleEvents([event])) - WAIT_OBJECT_0;
 * const { networkEvents } = enumNetworkEvents(listener, event);
 * if (networkEvents & FD_ACCEPT) listener.tryAccept();
 * ```
 *
 * @module
 */

import { NetError } from "../runtime/errors.ts";
import type { ListenerCore, SocketCore } from "../core/socket_core.ts";
import { NonBlockingListener, NonBlockingSocket, WOULD_BLOCK, type WouldBlock } from "./nonblocking.ts";
import { describeValue, resetEvent, setEvent, stateOf, WsaEvent } from "./_wsa_event.ts";

export {
  closeEvent,
  createEvent,
  resetEvent,
  setEvent,
  WAIT_OBJECT_0,
  WAIT_TIMEOUT,
  type WaitForEventsOptions,
  waitForMultipleEvents,
  WSA_MAXIMUM_WAIT_EVENTS,
  WsaEvent,
} from "./_wsa_event.ts";

/**
 * Data is waiting to be received.
 *
 * @example
 * ```ts
 * import { enumNetworkEvents, FD_READ } from "sockmodels/event-select";
 * import type { NonBlockingSocket } from "sockmodels/nonblocking";
 * declare const sock: NonBlockingSocket;
 * const buf = new Uint8Array(4096);
 * if (enumNetworkEvents(sock).networkEvents & FD_READ) sock.tryRecv(buf);
 * ```
 */
export const FD_READ = 1;
/**
 * The socket can send (again).
 *
 * @example
 * ```ts
 * import { createEvent, eventSelect, FD_CLOSE, FD_READ, FD_WRITE } from "sockmodels/event-select";
 * import type { NonBlockingSocket } from "sockmodels/nonblocking";
 * declare const sock: NonBlockingSocket;
 * const event = createEvent();
 * eventSelect(sock, event, FD_READ | FD_WRITE | FD_CLOSE);
 * ```
 */
export const FD_WRITE = 2;
/**
 * Urgent (out-of-band) data arrived. Accepted in masks for completeness; never recorded,
 * because the runtimes do not deliver urgent data separately.
 *
 * @example
 * ```ts
 * const mask = FD_READ | FD_OOB;
 * ```
 */
export const FD_OOB = 4;
/**
 * A connection is waiting to be accepted.
 *
 * @example
 * ```ts
 * import { createEvent, eventSelect, FD_ACCEPT, FD_CLOSE } from "sockmodels/event-select";
 * import type { NonBlockingListener } from "sockmodels/nonblocking";
 * declare const listener: NonBlockingListener;
 * const event = createEvent();
 * eventSelect(listener, event, FD_ACCEPT | FD_CLOSE);
 * ```
 */
export const FD_ACCEPT = 8;
/**
 * A non-blocking connect finished or failed (see the error code).
 *
 * @example
 * ```ts
 * import { createEvent, eventSelect, FD_CONNECT, FD_WRITE } from "sockmodels/event-select";
 * import type { NonBlockingSocket } from "sockmodels/nonblocking";
 * declare const sock: NonBlockingSocket;
 * const event = createEvent();
 * eventSelect(sock, event, FD_CONNECT | FD_WRITE);
 * ```
 */
export const FD_CONNECT = 16;
/**
 * The connection closed: gracefully (error 0) or abortively (WSAECONNRESET).
 *
 * @example
 * ```ts
 * import { createEvent, eventSelect, FD_CLOSE, FD_READ } from "sockmodels/event-select";
 * import type { NonBlockingSocket } from "sockmodels/nonblocking";
 * declare const sock: NonBlockingSocket;
 * const event = createEvent();
 * eventSelect(sock, event, FD_READ | FD_CLOSE);
 * ```
 */
export const FD_CLOSE = 32;

/**
 * Index of FD_READ's error code in {@linkcode NetworkEvents.errorCodes}.
 *
 * @example
 * ```ts
 * import { enumNetworkEvents, FD_READ_BIT, type WsaEvent } from "sockmodels/event-select";
 * import type { NonBlockingSocket } from "sockmodels/nonblocking";
 * declare const sock: NonBlockingSocket;
 * declare const event: WsaEvent;
 * const { errorCodes } = enumNetworkEvents(sock, event);
 * if (errorCodes[FD_READ_BIT] !== 0) console.error(errorCodes[FD_READ_BIT]);
 * ```
 */
export const FD_READ_BIT = 0;
/**
 * Index of FD_WRITE's error code.
 *
 * @example
 * ```ts
 * import { enumNetworkEvents, FD_WRITE_BIT } from "sockmodels/event-select";
 * import type { NonBlockingSocket } from "sockmodels/nonblocking";
 * declare const sock: NonBlockingSocket;
 * const err = enumNetworkEvents(sock).errorCodes[FD_WRITE_BIT];
 * ```
 */
export const FD_WRITE_BIT = 1;
/**
 * Index of FD_OOB's error code.
 *
 * @example
 * ```ts
 * import { enumNetworkEvents, FD_OOB_BIT } from "sockmodels/event-select";
 * import type { NonBlockingSocket } from "sockmodels/nonblocking";
 * declare const sock: NonBlockingSocket;
 * const err = enumNetworkEvents(sock).errorCodes[FD_OOB_BIT];
 * ```
 */
export const FD_OOB_BIT = 2;
/**
 * Index of FD_ACCEPT's error code.
 *
 * @example
 * ```ts
 * import { enumNetworkEvents, FD_ACCEPT_BIT } from "sockmodels/event-select";
 * import type { NonBlockingListener } from "sockmodels/nonblocking";
 * declare const listener: NonBlockingListener;
 * const err = enumNetworkEvents(listener).errorCodes[FD_ACCEPT_BIT];
 * ```
 */
export const FD_ACCEPT_BIT = 3;
/**
 * Index of FD_CONNECT's error code (10061, WSAECONNREFUSED, for a refused connect).
 *
 * @example
 * ```ts
 * import { enumNetworkEvents, FD_CONNECT_BIT } from "sockmodels/event-select";
 * import type { NonBlockingSocket } from "sockmodels/nonblocking";
 * declare const sock: NonBlockingSocket;
 * const err = enumNetworkEvents(sock).errorCodes[FD_CONNECT_BIT];
 * ```
 */
export const FD_CONNECT_BIT = 4;
/**
 * Index of FD_CLOSE's error code (10054, WSAECONNRESET, after an abortive close).
 *
 * @example
 * ```ts
 * import { enumNetworkEvents, FD_CLOSE_BIT } from "sockmodels/event-select";
 * import type { NonBlockingSocket } from "sockmodels/nonblocking";
 * declare const sock: NonBlockingSocket;
 * const err = enumNetworkEvents(sock).errorCodes[FD_CLOSE_BIT];
 * ```
 */
export const FD_CLOSE_BIT = 5;
/**
 * The length of {@linkcode NetworkEvents.errorCodes}, as in Winsock's `WSANETWORKEVENTS`.
 *
 * @example
 * ```ts
 * import { enumNetworkEvents, FD_MAX_EVENTS } from "sockmodels/event-select";
 * import type { NonBlockingSocket } from "sockmodels/nonblocking";
 * declare const sock: NonBlockingSocket;
 * console.log(enumNetworkEvents(sock).errorCodes.length === FD_MAX_EVENTS); // true
 * ```
 */
export const FD_MAX_EVENTS = 10;

const KNOWN_EVENTS = FD_READ | FD_WRITE | FD_OOB | FD_ACCEPT | FD_CONNECT | FD_CLOSE;

/**
 * A socket that network events can be selected for: the non-blocking model's sockets.
 *
 * @example
 * ```ts
 * import type { EventSelectSocket } from "sockmodels/event-select";
 * import type { NonBlockingListener, NonBlockingSocket } from "sockmodels/nonblocking";
 * declare const listener: NonBlockingListener;
 * declare const client: NonBlockingSocket;
 * const targets: EventSelectSocket[] = [listener, client];
 * ```
 */
export type EventSelectSocket = NonBlockingSocket | NonBlockingListener;

/**
 * The network events recorded since the last {@linkcode enumNetworkEvents}, like
 * `WSANETWORKEVENTS`.
 *
 * @example
 * ```ts
 * import {
 *   enumNetworkEvents, FD_CLOSE, FD_CLOSE_BIT, type NetworkEvents, type WsaEvent,
 * } from "sockmodels/event-select";
 * import type { NonBlockingSocket } from "sockmodels/nonblocking";
 * declare const sock: NonBlockingSocket;
 * declare const event: WsaEvent;
 * const { networkEvents, errorCodes }: NetworkEvents = enumNetworkEvents(sock, event);
 * if (networkEvents & FD_CLOSE) console.log("closed, error", errorCodes[FD_CLOSE_BIT]);
 * ```
 */
export interface NetworkEvents {
  /** The FD_* bits recorded. */
  networkEvents: number;
  /** Per FD_*_BIT, the Winsock error number of that event, 0 for success. */
  errorCodes: number[];
}

/**
 * Receives each network event as it is recorded: the FD_* bit and its Winsock error number.
 *
 * @example
 * ```ts
 * const sink: NetworkEventSink = (event, errorCode) => console.log(event, errorCode);
 * ```
 */
export type NetworkEventSink = (event: number, errorCode: number) => void;

// ---- recording network events -------------------------------------------------------------

function bitIndex(event: number): number {
  return 31 - Math.clz32(event);
}

function checkSocket(sock: unknown, what: string): asserts sock is EventSelectSocket {
  if (!(sock instanceof NonBlockingSocket) && !(sock instanceof NonBlockingListener)) {
    throw new TypeError(`${what} must be a NonBlockingSocket or NonBlockingListener, got ${describeValue(sock)}`);
  }
}

function checkMask(mask: unknown): asserts mask is number {
  if (typeof mask !== "number" || !Number.isInteger(mask) || mask < 0) {
    throw new RangeError(`The network event mask must be a non-negative integer, got ${describeValue(mask)}`);
  }
  if ((mask & ~KNOWN_EVENTS) !== 0 || mask > KNOWN_EVENTS) {
    throw new RangeError(
      `The network event mask 0x${
        mask.toString(16)
      } has bits other than FD_READ, FD_WRITE, FD_OOB, FD_ACCEPT, FD_CONNECT and FD_CLOSE`,
    );
  }
}

// The Winsock number of a socket's error; an error that is not a NetError (a bad connect option)
// counts as WSAEINVAL.
function winsockNumber(error: unknown): number {
  if (error === undefined) return 0;
  return error instanceof NetError ? error.winsockCode : 10022;
}

// A core made by SocketCore.connect keeps its connect promise and returns that same promise from
// every connected() call; an accepted core answers with a fresh resolved promise each time.
function madeByConnect(core: SocketCore): boolean {
  return core.connected() === core.connected();
}

const recorders = new WeakMap<EventSelectSocket, NetworkEventRecorder>();

/** A recorder's `#bits`: it records a listener's events. */
const LISTENING = 1;
/** A recorder's `#bits`: it is attached (not cancelled). */
const ACTIVE = 2;
/** A recorder's `#bits`: a send would block; FD_WRITE then waits until half the buffer is free. */
const WRITE_BLOCKED = 4;

/**
 * The network event record of one socket, shared by the WSAEventSelect and WSAAsyncSelect
 * models: it watches the socket's core, applies Winsock's re-enabling rules, keeps the record
 * that {@linkcode enumNetworkEvents} returns, and hands every newly recorded event to a sink
 * (which sets an event object, or posts a window message).
 *
 * A socket has at most one recorder: attaching a new one cancels the old one and clears its
 * record, as a new WSAEventSelect or WSAAsyncSelect call does. While attached, the socket's
 * `tryRecv`, `trySend` and `tryAccept` are the re-enabling calls. Closing the socket cancels
 * the recorder. An accepted socket starts without one.
 *
 * @example
 * ```ts
 * import { FD_CLOSE, FD_READ, NetworkEventRecorder } from "sockmodels/event-select";
 * import type { NonBlockingSocket } from "sockmodels/nonblocking";
 * declare const sock: NonBlockingSocket;
 * const recorder = NetworkEventRecorder.attach(sock, FD_READ | FD_CLOSE, (event, error) => {
 *   console.log("recorded", event, "error", error);
 * });
 * recorder.take(); // { networkEvents, errorCodes }, and the record is cleared
 * ```
 */
export class NetworkEventRecorder {
  /** The socket whose events are recorded. */
  readonly socket: EventSelectSocket;
  /** The FD_* events selected. */
  readonly mask: number;
  #core: SocketCore | ListenerCore;
  #sink: NetworkEventSink | WsaEvent;
  /** LISTENING, ACTIVE and WRITE_BLOCKED: one field, so that a recorder stays small. */
  #bits = ACTIVE;
  // Events that may be recorded now; an event leaves this set when recorded and comes back
  // when its re-enabling call is made.
  #enabled: number;
  #recorded = 0;
  /** The error code of each recorded event; made by the first error after a `take`. */
  #errorCodes: number[] | undefined;

  private constructor(socket: EventSelectSocket, mask: number, sink: NetworkEventSink | WsaEvent) {
    this.socket = socket;
    this.mask = mask;
    this.#sink = sink;
    this.#core = socket.core;
    if (socket instanceof NonBlockingListener) this.#bits |= LISTENING;
    this.#enabled = FD_READ | FD_WRITE | FD_ACCEPT | FD_CLOSE;
    if (!(this.#bits & LISTENING) && madeByConnect(socket.core as SocketCore)) this.#enabled |= FD_CONNECT;
    // The recorder is its own watcher: no closure per socket.
    this.#core.addWatcher(this);
  }

  /**
   * Selects `mask` for `socket`, replacing (and clearing) any earlier selection, and records at
   * once whatever already holds (data waiting, a pending connection, room to send, a finished
   * connect). `sink` is a function, or an event object to set, as WSAEventSelect passes: then
   * a selection costs no closure. Throws a NetError (ENOTCONN) for a closed socket.
   */
  static attach(socket: EventSelectSocket, mask: number, sink: NetworkEventSink | WsaEvent): NetworkEventRecorder {
    checkSocket(socket, "The socket");
    checkMask(mask);
    if (typeof sink !== "function" && !(sink instanceof WsaEvent)) {
      throw new TypeError(`The event sink must be a function or an event, got ${describeValue(sink)}`);
    }
    if (socket.core.isClosed) {
      throw new NetError("ENOTCONN", "Cannot select network events: the socket is closed", { syscall: "select" });
    }
    recorders.get(socket)?.cancel();
    const recorder = new NetworkEventRecorder(socket, mask, sink);
    recorders.set(socket, recorder);
    NetworkEventRecorder.#hook(socket);
    recorder.#check();
    return recorder;
  }

  /** Cancels the selection of `socket`, if any. */
  static detach(socket: EventSelectSocket): void {
    recorders.get(socket)?.cancel();
  }

  /** The recorder attached to `socket`, if any. */
  static of(socket: EventSelectSocket): NetworkEventRecorder | undefined {
    return recorders.get(socket);
  }

  /** False once cancelled (by `cancel`, a new selection, or closing the socket). */
  get active(): boolean {
    return (this.#bits & ACTIVE) !== 0;
  }

  /** The FD_* bits recorded since the last `take`. */
  get recorded(): number {
    return this.#recorded;
  }

  /** Returns the record and clears it. */
  take(): NetworkEvents {
    const errorCodes = this.#errorCodes ?? new Array(FD_MAX_EVENTS).fill(0);
    const out: NetworkEvents = { networkEvents: this.#recorded, errorCodes };
    this.#recorded = 0;
    this.#errorCodes = undefined;
    return out;
  }

  /** Stops recording and restores the socket's plain non-blocking calls. */
  cancel(): void {
    if (!(this.#bits & ACTIVE)) return;
    this.#bits &= ~ACTIVE;
    this.#core.unwatch(this);
    if (recorders.get(this.socket) === this) {
      recorders.delete(this.socket);
      NetworkEventRecorder.#unhook(this.socket);
    }
  }

  /** @internal Called by the core after every change that may affect its readiness. */
  readinessChanged(): void {
    this.#check();
  }

  #check(): void {
    if (!(this.#bits & ACTIVE)) return;
    if (this.#core.isClosed) {
      // closesocket cancels the selection; nothing is recorded after it.
      this.cancel();
      return;
    }
    if (this.#bits & LISTENING) {
      if ((this.#core as ListenerCore).pending > 0) this.#record(FD_ACCEPT, 0);
      return;
    }
    const core = this.#core as SocketCore;
    if (core.connecting) return;
    const connected = core.stream !== undefined;
    this.#record(FD_CONNECT, connected ? 0 : winsockNumber(core.error));
    if (!connected) return;
    const space = core.sendSpace;
    if (space > 0 && (!(this.#bits & WRITE_BLOCKED) || space * 2 >= core.sendBufferSize)) this.#record(FD_WRITE, 0);
    if (core.available > 0) this.#record(FD_READ, 0);
    else if (core.eof) this.#record(FD_CLOSE, winsockNumber(core.error));
  }

  #record(event: number, errorCode: number): void {
    if ((this.mask & event) === 0 || (this.#enabled & event) === 0) return;
    this.#enabled &= ~event;
    if (event === FD_WRITE) this.#bits &= ~WRITE_BLOCKED;
    this.#recorded |= event;
    if (errorCode !== 0 || this.#errorCodes !== undefined) {
      (this.#errorCodes ??= new Array(FD_MAX_EVENTS).fill(0))[bitIndex(event)] = errorCode;
    }
    const sink = this.#sink;
    if (typeof sink === "function") sink(event, errorCode);
    else setEvent(sink);
  }

  #reenable(event: number): void {
    if (!(this.#bits & ACTIVE)) return;
    if (event === FD_WRITE) this.#bits |= WRITE_BLOCKED;
    this.#enabled |= event;
    this.#check();
  }

  static #reenableOf(socket: EventSelectSocket, event: number): void {
    const recorder = recorders.get(socket);
    if (recorder) recorder.#reenable(event);
  }

  // While a recorder is attached, the socket's own tryAccept, tryRecv and trySend are shadowed
  // by these, which are shared by every socket, so that a selection costs no closures.
  static #hook(socket: EventSelectSocket): void {
    const names = socket instanceof NonBlockingListener ? ["tryAccept"] : ["tryRecv", "trySend"];
    if (Object.hasOwn(socket, names[0])) return;
    for (const name of names) {
      const value = NetworkEventRecorder.#reenablingCalls[name];
      Object.defineProperty(socket, name, { configurable: true, writable: true, value });
    }
  }

  static #unhook(socket: EventSelectSocket): void {
    for (const name of ["tryRecv", "trySend", "tryAccept"]) Reflect.deleteProperty(socket, name);
  }

  static readonly #reenablingCalls: Record<string, (this: never, ...args: never[]) => unknown> = {
    tryAccept(this: NonBlockingListener): NonBlockingSocket | WouldBlock {
      try {
        return Object.getPrototypeOf(this).tryAccept.call(this);
      } finally {
        NetworkEventRecorder.#reenableOf(this, FD_ACCEPT);
      }
    },
    tryRecv(this: NonBlockingSocket, buffer: Uint8Array): number | WouldBlock {
      // Like Winsock, a recv re-enables FD_READ even when it fails or would block.
      try {
        return Object.getPrototypeOf(this).tryRecv.call(this, buffer);
      } finally {
        NetworkEventRecorder.#reenableOf(this, FD_READ);
      }
    },
    trySend(this: NonBlockingSocket, bytes: Uint8Array): number | WouldBlock {
      const sent: number | WouldBlock = Object.getPrototypeOf(this).trySend.call(this, bytes);
      if (sent === WOULD_BLOCK || sent < bytes.byteLength) NetworkEventRecorder.#reenableOf(this, FD_WRITE);
      return sent;
    },
  };
}

// ---- WSAEventSelect -----------------------------------------------------------------------

/**
 * Ties `sock` to `event` for the FD_* events in `networkEvents` (WSAEventSelect). Whenever one
 * of them is recorded the event is set. Calling it again replaces the selection and clears the
 * record; a mask of 0 or a null event cancels it. Whatever already holds is recorded at once.
 *
 * Throws a TypeError for something that is not a non-blocking socket or an event, or for a
 * closed event; a RangeError for unknown bits; a NetError (ENOTCONN) for a closed socket.
 *
 * @example
 * ```ts
 * import { createEvent, eventSelect, FD_CLOSE, FD_READ, FD_WRITE } from "sockmodels/event-select";
 * import type { NonBlockingSocket } from "sockmodels/nonblocking";
 * declare const sock: NonBlockingSocket;
 * const event = createEvent();
 * eventSelect(sock, event, FD_READ | FD_WRITE | FD_CLOSE);
 * // later: stop watching
 * eventSelect(sock, null, 0);
 * ```
 */
export function eventSelect(sock: EventSelectSocket, event: WsaEvent | null | undefined, networkEvents: number): void {
  checkSocket(sock, "The socket");
  checkMask(networkEvents);
  if (event === null || event === undefined || networkEvents === 0) {
    NetworkEventRecorder.detach(sock);
    return;
  }
  const state = stateOf(event, "The event");
  if (state.closed) throw new TypeError(`Cannot select network events with event ${event.id}: it is closed`);
  NetworkEventRecorder.attach(sock, networkEvents, event);
}

/**
 * Returns the network events recorded for `sock` since the last call, with their error codes,
 * and clears the record (WSAEnumNetworkEvents). If `event` is given it is reset first.
 * A socket without a selection has nothing recorded.
 *
 * @example
 * ```ts
 * import {
 *   enumNetworkEvents, FD_CONNECT, FD_CONNECT_BIT, type WsaEvent,
 * } from "sockmodels/event-select";
 * import type { NonBlockingSocket } from "sockmodels/nonblocking";
 * declare const sock: NonBlockingSocket;
 * declare const event: WsaEvent;
 * const { networkEvents, errorCodes } = enumNetworkEvents(sock, event);
 * if (networkEvents & FD_CONNECT && errorCodes[FD_CONNECT_BIT] !== 0) {
 *   console.error("connect failed with", errorCodes[FD_CONNECT_BIT]); // e.g. 10061
 * }
 * ```
 */
export function enumNetworkEvents(sock: EventSelectSocket, event?: WsaEvent | null): NetworkEvents {
  checkSocket(sock, "The socket");
  if (event !== undefined && event !== null) resetEvent(event);
  return recorders.get(sock)?.take() ?? { networkEvents: 0, errorCodes: new Array(FD_MAX_EVENTS).fill(0) };
}
