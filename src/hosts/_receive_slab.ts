/**
 * Receive space for the hosts whose recv never waits: one slab serves every client, since each
 * recv's bytes are taken before the next recv.
 *
 * @module
 */

const DEFAULT_SLAB_SIZE = 64 * 1024;

/**
 * A slab of receive space handed out in slices that are never written again, so that the bytes
 * of one recv can go to a decoder and an application as they are, with no copy. A slab that is
 * nearly full is left to the slices that still refer to it, and a new one is taken. A queue
 * that keeps a slice for a slow reader copies it (`ByteQueue.compact`), so that a few bytes do
 * not keep a whole slab alive.
 *
 * @example
 * ```ts
 * import { ReceiveSlab } from "./_receive_slab.ts";
 * declare const sock: { tryRecv(buffer: Uint8Array): number };
 * const slab = new ReceiveSlab();
 * const n = sock.tryRecv(slab.space);
 * const bytes = slab.take(n); // yours to keep
 * ```
 */
export class ReceiveSlab {
  readonly #size: number;
  /** Below this much free space, the next recv goes into a new slab. */
  readonly #minSpace: number;
  #slab: Uint8Array;
  #offset = 0;
  #space: Uint8Array;

  /** Slabs of `size` bytes; a recv always gets at least a quarter of one. */
  constructor(size: number = DEFAULT_SLAB_SIZE) {
    this.#size = size;
    this.#minSpace = size >> 2;
    this.#slab = this.#space = new Uint8Array(size);
  }

  /** Where the next recv writes: the free part of the slab, at least a quarter of it. */
  get space(): Uint8Array {
    return this.#space;
  }

  /** Takes the first `count` bytes of {@linkcode space}, which a recv just filled. */
  take(count: number): Uint8Array {
    const bytes = this.#space.subarray(0, count);
    this.#offset += count;
    if (this.#size - this.#offset < this.#minSpace) {
      this.#slab = new Uint8Array(this.#size);
      this.#offset = 0;
      this.#space = this.#slab;
    } else {
      this.#space = this.#slab.subarray(this.#offset);
    }
    return bytes;
  }
}
