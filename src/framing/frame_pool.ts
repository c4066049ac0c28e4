/**
 * `FramePool`: recycled buffers for frames that span chunks.
 *
 * A decoder must copy a frame that arrives in pieces into a buffer of its own. Fresh memory
 * for every large frame costs more than the copy itself: the allocation, its page faults and
 * the garbage collector's work. A pool given to a codec (`pool` option) hands out buffers the
 * application gave back with {@linkcode FramePool.release}, so a stream of large frames is
 * assembled in memory that is already mapped and in cache, the way Netty's pooled allocator
 * and tokio's reclaimed `BytesMut` work.
 *
 * @module
 */

import { show } from "./_internal.ts";

/**
 * Options of a {@linkcode FramePool}.
 *
 * @example
 * ```ts
 * const options: FramePoolOptions = { minFrameLength: 4096, maxRetainedBytes: 16 << 20 };
 * ```
 */
export interface FramePoolOptions {
  /** Frames shorter than this get plain buffers; they are cheap to allocate. Default 1,024. */
  minFrameLength?: number;
  /** The most bytes the pool keeps for reuse; what it cannot keep is left to the GC. Default 8 MiB. */
  maxRetainedBytes?: number;
}

/**
 * A pool of frame buffers, shared by any number of decoders (of one thread).
 *
 * Buffers come in power-of-two size classes. `alloc(n)` returns a view of exactly `n` bytes
 * at the start of a pooled buffer; `release(frame)` gives it back once the application is
 * done with it. Releasing is optional: a frame never released is simply collected. Frames
 * the pool did not allocate (such as zero-copy views of a chunk) are ignored by `release`,
 * so an application can release every frame it gets. Releasing the same frame twice, while
 * the pool still holds it, throws.
 *
 * A released frame must no longer be read or written, nor be queued in a stream's send
 * queue that has not flushed it: its memory will hold the next frame.
 *
 * @example
 * ```ts
 * import { FramePool, lengthPrefixed } from "sockmodels/framing";
 * const pool = new FramePool();
 * const codec = lengthPrefixed({ lengthFieldLength: 4, pool });
 * const d = codec.decoder();
 * for (const frame of d.push(new Uint8Array([0, 0, 0, 1, 42]))) {
 *   console.log(frame[0]); // 42
 *   pool.release(frame);
 * }
 * ```
 */
export class FramePool {
  /** Frames shorter than this are not pooled. */
  readonly minFrameLength: number;
  /** The most bytes kept for reuse. */
  readonly maxRetainedBytes: number;
  #free = new Map<number, ArrayBuffer[]>();
  /** Every buffer this pool made, with the length of the frame it last handed out in it. */
  #mine = new WeakMap<ArrayBuffer, number>();
  #idle = new WeakSet<ArrayBuffer>();
  #retained = 0;
  #reused = 0;
  #allocated = 0;

  /** A pool whose frames have at least `minFrameLength` bytes. */
  constructor(options: FramePoolOptions = {}) {
    const min = options.minFrameLength ?? 1024;
    const max = options.maxRetainedBytes ?? 8 * 1024 * 1024;
    if (!Number.isSafeInteger(min) || min < 1) {
      throw new RangeError(`Option minFrameLength must be a positive integer, got ${show(min)}`);
    }
    if (!Number.isSafeInteger(max) || max < 0) {
      throw new RangeError(`Option maxRetainedBytes must be a non-negative integer, got ${show(max)}`);
    }
    this.minFrameLength = min;
    this.maxRetainedBytes = max;
  }

  /** Bytes held for reuse now. */
  get retainedBytes(): number {
    return this.#retained;
  }

  /** How many `alloc` calls were served by a released buffer, and how many by a new one. */
  get stats(): { reused: number; allocated: number } {
    return { reused: this.#reused, allocated: this.#allocated };
  }

  /** A buffer of exactly `length` bytes, recycled where possible. Its contents are undefined. */
  alloc(length: number): Uint8Array {
    if (length < this.minFrameLength) return new Uint8Array(length);
    const size = sizeClass(length);
    const list = this.#free.get(size);
    let buffer = list?.pop();
    if (buffer !== undefined) {
      this.#idle.delete(buffer);
      this.#retained -= size;
      this.#reused++;
    } else {
      buffer = new ArrayBuffer(size);
      this.#allocated++;
    }
    this.#mine.set(buffer, length);
    return new Uint8Array(buffer, 0, length);
  }

  /**
   * Gives `frame`'s buffer back for reuse. A frame this pool did not allocate is ignored.
   * Throws a TypeError when `frame` is not a Uint8Array, or was already released.
   */
  release(frame: Uint8Array): void {
    if (!(frame instanceof Uint8Array)) {
      throw new TypeError(`Only a frame (a Uint8Array) can be released, got ${show(frame)}`);
    }
    // The cheap tests first: most frames of small messages are views inside a chunk.
    if (frame.byteLength < this.minFrameLength || frame.byteOffset !== 0) return;
    const buffer = frame.buffer as ArrayBuffer;
    // Only the very view handed out counts: a frame decoded from inside a pooled frame shares
    // its buffer, and must not give that buffer away.
    if (this.#mine.get(buffer) !== frame.byteLength) return;
    if (this.#idle.has(buffer)) {
      throw new TypeError(`Frame of ${frame.byteLength} bytes was already released to the pool`);
    }
    const size = buffer.byteLength;
    if (this.#retained + size > this.maxRetainedBytes) {
      this.#mine.delete(buffer);
      return;
    }
    let list = this.#free.get(size);
    if (list === undefined) this.#free.set(size, list = []);
    list.push(buffer);
    this.#idle.add(buffer);
    this.#retained += size;
  }

  /** Drops every buffer held for reuse. */
  clear(): void {
    for (const list of this.#free.values()) {
      for (const buffer of list) {
        this.#idle.delete(buffer);
        this.#mine.delete(buffer);
      }
    }
    this.#free.clear();
    this.#retained = 0;
  }
}

/** The power of two at or above `n`. */
function sizeClass(n: number): number {
  return n <= 0x40000000 ? 2 ** Math.ceil(Math.log2(n)) : n;
}

/** A buffer for a frame that spans chunks: from `pool` when the codec has one. */
export function allocFrame(pool: FramePool | undefined, length: number): Uint8Array {
  return pool === undefined ? new Uint8Array(length) : pool.alloc(length);
}

/** Reads a codec's `pool` option: undefined or a {@linkcode FramePool}. */
export function poolOption(value: unknown): FramePool | undefined {
  if (value === undefined || value instanceof FramePool) return value;
  throw new TypeError(`Option pool must be a FramePool, got ${show(value)}`);
}
