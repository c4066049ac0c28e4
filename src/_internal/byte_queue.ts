/**
 * The bytes a socket could not take yet, in order, with partial sends kept.
 *
 * @module
 */

/**
 * A FIFO of byte chunks waiting to be sent. It is a `ByteSink` (`write` appends), so a frame
 * can be written into it with the framer's `writeFrame`.
 *
 * @example
 * ```ts
 * import { ByteQueue } from "./byte_queue.ts";
 * declare const sock: { trySend(bytes: Uint8Array): number | symbol };
 * const queue = new ByteQueue();
 * queue.write(new TextEncoder().encode("hello"));
 * const empty = queue.drain(sock); // trySend until all went out or it would block
 * ```
 */
export class ByteQueue {
  #parts: Uint8Array[] = [];
  #head = 0;
  #bytes = 0;
  /** Chunks below this index were looked at by `compact`. */
  #compacted = 0;

  /** Bytes waiting. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Appends bytes and returns true; the queue keeps the array, so the caller must not modify it. */
  write(bytes: Uint8Array): boolean {
    if (bytes.byteLength === 0) return true;
    this.#parts.push(bytes);
    this.#bytes += bytes.byteLength;
    return true;
  }

  /**
   * Sends with `sender.trySend` until the queue is empty, or `trySend` would block (returns
   * anything but a number) or takes only part of a chunk (the rest waits for the next writable
   * moment). Returns true when empty. With `untilWouldBlock`, a partial send does not stop it:
   * it goes on until `trySend` would block, which an edge-triggered loop needs to be told of
   * the next change. Errors of `trySend` propagate.
   */
  drain(sender: { trySend(bytes: Uint8Array): number | symbol }, untilWouldBlock = false): boolean {
    while (this.#head < this.#parts.length) {
      const head = this.#parts[this.#head];
      const sent = sender.trySend(head);
      if (typeof sent !== "number") return false;
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
    this.#compacted = 0;
    return true;
  }

  /**
   * Copies each waiting chunk that is a view of less than half of its buffer (a slice of a
   * receive buffer, say), so that bytes kept for a slow reader do not keep a larger buffer
   * alive. Chunks it looked at before are skipped.
   */
  compact(): void {
    const parts = this.#parts;
    for (let i = Math.max(this.#head, this.#compacted); i < parts.length; i++) {
      const part = parts[i];
      if (part.byteLength * 2 < part.buffer.byteLength) parts[i] = part.slice();
    }
    this.#compacted = parts.length;
  }

  /** Takes everything queued as one buffer (the chunk itself when there is one), or undefined. */
  takeAll(): Uint8Array | undefined {
    const count = this.#parts.length - this.#head;
    if (count === 0) return undefined;
    let out: Uint8Array;
    if (count === 1) out = this.#parts[this.#head];
    else {
      out = new Uint8Array(this.#bytes);
      let offset = 0;
      for (let i = this.#head; i < this.#parts.length; i++) {
        out.set(this.#parts[i], offset);
        offset += this.#parts[i].byteLength;
      }
    }
    this.clear();
    return out;
  }

  /** Drops everything. */
  clear(): void {
    this.#parts.length = 0;
    this.#head = 0;
    this.#bytes = 0;
    this.#compacted = 0;
  }
}
