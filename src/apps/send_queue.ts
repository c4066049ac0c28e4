/**
 * The bytes a non-blocking socket could not take yet, in order, with partial sends kept.
 *
 * @module
 */

import { WOULD_BLOCK, type WouldBlock } from "../models/nonblocking.ts";

/**
 * A FIFO of byte chunks waiting to be sent with a non-blocking `send`.
 *
 * @example
 * ```ts
 * import type { NonBlockingSocket } from "sockmodels/nonblocking";
 * declare const sock: NonBlockingSocket;
 * const queue = new SendQueue();
 * queue.push(new TextEncoder().encode("hello"));
 * const empty = queue.drain(sock); // sock.trySend until all went out or it would block
 * ```
 */
export class SendQueue {
  #parts: Uint8Array[] = [];
  #head = 0;
  #bytes = 0;

  /** Bytes waiting. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Appends bytes; the queue keeps the array, so the caller must not modify it. */
  push(bytes: Uint8Array): void {
    if (bytes.byteLength === 0) return;
    this.#parts.push(bytes);
    this.#bytes += bytes.byteLength;
  }

  /**
   * Sends with `sender.trySend` until the queue is empty, or `trySend` would block or takes only part
   * of a chunk (the rest waits for the next writable moment). Returns true when empty.
   * With `untilWouldBlock`, a partial send does not stop it: it goes on until `trySend`
   * reports WOULD_BLOCK, which an edge-triggered loop needs to be told of the next change.
   * Errors of `trySend` propagate.
   */
  drain(sender: { trySend(bytes: Uint8Array): number | WouldBlock }, untilWouldBlock = false): boolean {
    if (this.#head === this.#parts.length) return true;
    while (this.#head < this.#parts.length) {
      const head = this.#parts[this.#head];
      const sent = sender.trySend(head);
      if (sent === WOULD_BLOCK) return false;
      this.#bytes -= sent;
      if (sent < head.byteLength) {
        this.#parts[this.#head] = head.subarray(sent);
        if (untilWouldBlock) continue;
        return false;
      }
      this.#head++;
    }
    this.#parts.length = 0;
    this.#head = 0;
    return true;
  }

  /** Drops everything. */
  clear(): void {
    this.#parts.length = 0;
    this.#head = 0;
    this.#bytes = 0;
  }
}
