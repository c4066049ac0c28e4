/**
 * The one queue of byte chunks: the adapter stream's send queue, the socket core's receive
 * buffer, and the hosts' queue of bytes a socket could not take yet.
 *
 * @module
 */

const EMPTY = new Uint8Array(0);
/**
 * The chunk array of every empty queue: nothing is ever stored in it. A queue that empties lets
 * its own array go, so an idle connection's queues hold no storage.
 */
const NO_PARTS: Uint8Array[] = [];

const trySendOf = (sender: { trySend(bytes: Uint8Array): number | symbol }, bytes: Uint8Array) => sender.trySend(bytes);
/** Emptied slots at the front are cut off once there are more than this, and over half. */
const TRIM_AFTER = 64;

/**
 * A FIFO of byte chunks, taken whole, in part, copied out, or joined. It is a `ByteSink`
 * (`write` appends), so a frame can be written into it with the framer's `writeFrame`. A
 * chunk taken in part stays where it is, with an offset, so no view is made for it.
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
  #parts: Uint8Array[] = NO_PARTS;
  #head = 0;
  /** Bytes of the head chunk already taken. */
  #headOffset = 0;
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
    if (this.#parts === NO_PARTS) this.#parts = [bytes];
    else this.#parts.push(bytes);
    this.#bytes += bytes.byteLength;
    return true;
  }

  /** Puts bytes back at the front, such as the part of a chunk that the OS did not take. */
  unshift(bytes: Uint8Array): void {
    if (bytes.byteLength === 0) return;
    this.#settleHead();
    if (this.#head > 0) this.#parts[--this.#head] = bytes;
    else if (this.#parts === NO_PARTS) this.#parts = [bytes];
    else this.#parts.unshift(bytes);
    this.#compacted = this.#head;
    this.#bytes += bytes.byteLength;
  }

  /** Copies up to `target.byteLength` bytes into `target` and takes them; returns the count. */
  read(target: Uint8Array): number {
    let copied = 0;
    while (copied < target.byteLength && this.#bytes > 0) {
      const chunk = this.#parts[this.#head];
      const start = this.#headOffset;
      const n = Math.min(chunk.byteLength - start, target.byteLength - copied);
      target.set(start === 0 && n === chunk.byteLength ? chunk : chunk.subarray(start, start + n), copied);
      copied += n;
      this.#consume(n, chunk.byteLength);
    }
    return copied;
  }

  /** Takes the next bytes without copying: the rest of the head chunk, at most `max`. */
  shift(max: number = Number.POSITIVE_INFINITY): Uint8Array | undefined {
    if (this.#bytes === 0) return undefined;
    const chunk = this.#parts[this.#head];
    const start = this.#headOffset;
    const n = Math.min(chunk.byteLength - start, max);
    const out = start === 0 && n === chunk.byteLength ? chunk : chunk.subarray(start, start + n);
    this.#consume(n, chunk.byteLength);
    return out;
  }

  /**
   * Takes the next chunk; when it is smaller than `joinBelow`, the chunks after it that are
   * also smaller are copied together with it, up to `maxJoined` bytes in all, so that many
   * small writes leave in one.
   */
  shiftJoined(joinBelow: number, maxJoined: number): Uint8Array | undefined {
    if (this.#bytes === 0) return undefined;
    this.#settleHead();
    const parts = this.#parts;
    const head = this.#head;
    const first = parts[head];
    let end = head + 1;
    let total = first.byteLength;
    if (total < joinBelow) {
      while (end < parts.length) {
        const size = parts[end].byteLength;
        if (size >= joinBelow || total + size > maxJoined) break;
        total += size;
        end++;
      }
    }
    if (end === head + 1) {
      this.#consume(total, total);
      return first;
    }
    const joined = new Uint8Array(total);
    let offset = 0;
    for (let i = head; i < end; i++) {
      joined.set(parts[i], offset);
      offset += parts[i].byteLength;
      parts[i] = EMPTY;
    }
    this.#bytes -= total;
    this.#head = end;
    this.#trim();
    return joined;
  }

  /**
   * Sends with `sender.trySend` until the queue is empty, or `trySend` would block (returns
   * anything but a number) or takes only part of a chunk (the rest waits for the next writable
   * moment). Returns true when empty. With `untilWouldBlock`, a partial send does not stop it:
   * it goes on until `trySend` would block, which an edge-triggered loop needs to be told of
   * the next change. Errors of `trySend` propagate, and the bytes stay queued.
   */
  drain(sender: { trySend(bytes: Uint8Array): number | symbol }, untilWouldBlock = false): boolean {
    return this.drainWith(trySendOf, sender, untilWouldBlock);
  }

  /**
   * {@linkcode drain} with `trySend(context, bytes)` in place of `sender.trySend(bytes)`, so
   * that one function serves every queue.
   */
  drainWith<C>(
    trySend: (context: C, bytes: Uint8Array) => number | symbol,
    context: C,
    untilWouldBlock = false,
  ): boolean {
    while (this.#bytes > 0) {
      const chunk = this.#parts[this.#head];
      const start = this.#headOffset;
      const rest = chunk.byteLength - start;
      const sent = trySend(context, start === 0 ? chunk : chunk.subarray(start));
      if (typeof sent !== "number") return false;
      this.#consume(sent, chunk.byteLength);
      if (sent < rest && !untilWouldBlock) return false;
    }
    return true;
  }

  /** Takes everything queued as one buffer (the chunk itself when there is one), or undefined. */
  takeAll(): Uint8Array | undefined {
    if (this.#bytes === 0) return undefined;
    this.#settleHead();
    let out: Uint8Array;
    if (this.#parts.length - this.#head === 1) out = this.#parts[this.#head];
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

  /**
   * Copies each waiting chunk that is a view of less than half of its buffer (a slice of a
   * receive buffer, say), so that bytes kept for a slow reader do not keep a larger buffer
   * alive. Chunks it looked at before are skipped.
   */
  compact(): void {
    const parts = this.#parts;
    for (let i = Math.max(this.#head, this.#compacted); i < parts.length; i++) {
      let part = parts[i];
      if (i === this.#head && this.#headOffset > 0) {
        part = part.subarray(this.#headOffset);
        this.#headOffset = 0;
      }
      parts[i] = part.byteLength * 2 < part.buffer.byteLength ? part.slice() : part;
    }
    this.#compacted = parts.length;
  }

  /** Drops everything. */
  clear(): void {
    this.#parts = NO_PARTS;
    this.#head = 0;
    this.#headOffset = 0;
    this.#bytes = 0;
    this.#compacted = 0;
  }

  /** Makes the head chunk start at its first untaken byte. */
  #settleHead(): void {
    if (this.#headOffset === 0) return;
    this.#parts[this.#head] = this.#parts[this.#head].subarray(this.#headOffset);
    this.#headOffset = 0;
  }

  /** Takes `n` bytes of the head chunk, whose length is `chunkLength`. */
  #consume(n: number, chunkLength: number): void {
    this.#bytes -= n;
    this.#headOffset += n;
    if (this.#headOffset < chunkLength) return;
    this.#parts[this.#head++] = EMPTY;
    this.#headOffset = 0;
    this.#trim();
  }

  /** Empties the array once every chunk was taken, or cuts off a long run of taken slots. */
  #trim(): void {
    const parts = this.#parts;
    if (this.#head === parts.length) {
      this.#parts = NO_PARTS;
      this.#head = 0;
      this.#compacted = 0;
    } else if (this.#head > TRIM_AFTER && this.#head * 2 > parts.length) {
      parts.splice(0, this.#head);
      this.#compacted = Math.max(0, this.#compacted - this.#head);
      this.#head = 0;
    }
  }
}
