/**
 * The shared part of the overlapped handles (socket, listener, datagram): association with a
 * completion port, and the list of pending operations that closing or `cancelIo` aborts.
 *
 * @module
 */

import { NetError } from "../runtime/errors.ts";
import type { CompletionPort, CompletionStatus, Overlapped } from "./iocp.ts";

/** WSA_OPERATION_ABORTED: the operation was cancelled (closesocket or CancelIoEx). */
export const WSA_OPERATION_ABORTED = 995;

const NO_BUFFER = new Uint8Array(0);

/**
 * A pending operation of a handle: its context, and how to complete it. It is one object with
 * no closure of its own, since an idle IOCP client always has one pending (its zero-byte
 * receive).
 */
export class PendingOp {
  readonly handle: OverlappedHandle;
  readonly port: CompletionPort;
  readonly overlapped: Overlapped;
  /** The buffer of a receive (empty for the other operations). */
  readonly buffer: Uint8Array;
  /** The byte count of a send (0 for the other operations). */
  readonly bytes: number;

  constructor(
    handle: OverlappedHandle,
    port: CompletionPort,
    overlapped: Overlapped,
    buffer: Uint8Array = NO_BUFFER,
    bytes = 0,
  ) {
    this.handle = handle;
    this.port = port;
    this.overlapped = overlapped;
    this.buffer = buffer;
    this.bytes = bytes;
  }

  /** Queues the operation's completion packet on its port, with the handle's key. */
  complete(status: Partial<CompletionStatus> & { ok: boolean }): void {
    this.port._complete(this.handle.key, this.overlapped, status);
  }
}

/** The error of an operation that closing or `cancelIo` aborted. */
export function aborted(what: string): NetError {
  return new NetError("ECANCELED", `The overlapped ${what} was aborted`);
}

/**
 * The shared part of the overlapped handles: association with a completion port and the
 * pending-operation list.
 *
 * @example
 * ```ts
 * import type { OverlappedHandle } from "sockmodels/iocp";
 * declare const handle: OverlappedHandle;
 * console.log(handle.port === undefined ? "not associated" : "associated");
 * ```
 */
export abstract class OverlappedHandle {
  #port: CompletionPort | undefined;
  #key: unknown;

  /** The port this handle is associated with. */
  get port(): CompletionPort | undefined {
    return this.#port;
  }

  /** The completion key. */
  get key(): unknown {
    return this.#key;
  }

  /** @internal */
  _associate(port: CompletionPort, key: unknown): void {
    if (this.#port && this.#port !== port) {
      throw new TypeError("This handle is already associated with another completion port");
    }
    this.#port = port;
    this.#key = key;
  }

  /** @internal */
  _requirePort(operation: string): CompletionPort {
    if (!this.#port) {
      throw new TypeError(`Cannot ${operation}: associate the handle with a completion port first`);
    }
    return this.#port;
  }

  /** @internal Completes pending operations matching `overlapped` (all if undefined) as aborted. */
  abstract _cancel(overlapped?: Overlapped): number;
}

/** Completes the operations of `list` that match `overlapped` (all if undefined) as aborted. */
export function removeOps(list: PendingOp[], overlapped: Overlapped | undefined, what: string): number {
  let n = 0;
  for (let i = 0; i < list.length; i++) {
    const op = list[i];
    if (overlapped !== undefined && op.overlapped !== overlapped) continue;
    list.splice(i--, 1);
    op.complete({ ok: false, errorCode: WSA_OPERATION_ABORTED, error: aborted(what) });
    n++;
  }
  return n;
}
