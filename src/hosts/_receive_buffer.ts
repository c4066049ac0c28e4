/**
 * The size of a client's next receive buffer, for hosts where each client owns one (a
 * blocking recv, a posted WSARecv): small while the client sends little, four times larger
 * each time a receive fills it, and small again after a run of short receives. An idle client
 * that has talked holds a small buffer, not the largest it ever needed.
 *
 * @module
 */

/** The first and smallest receive buffer. */
export const MIN_RECEIVE = 1024;
/** The largest receive buffer. */
export const MAX_RECEIVE = 64 * 1024;
/** Receives in a row under half the buffer before it shrinks. */
const SHRINK_AFTER = 8;

/**
 * One client's receive buffer, resized by what its receives bring.
 *
 * @example
 * ```ts
 * const size = new ReceiveBuffer();
 * const n = 1024; // bytes a receive into size.buffer brought
 * size.received(n); // full: the next buffer is four times larger
 * console.log(size.buffer.byteLength); // 4096
 * ```
 */
export class ReceiveBuffer {
  /** The buffer for the next receive. */
  buffer: Uint8Array = new Uint8Array(MIN_RECEIVE);
  #shortReceives = 0;
  /** The most a receive brought in the current run of short ones. */
  #shortMost = 0;

  /** Notes that a receive into {@linkcode ReceiveBuffer.buffer} brought `n` bytes (copied out). */
  received(n: number): void {
    const size = this.buffer.byteLength;
    if (n === size) {
      this.#shortReceives = 0;
      if (size < MAX_RECEIVE) this.buffer = new Uint8Array(size * 4);
      return;
    }
    if (n * 2 > size || size === MIN_RECEIVE) {
      this.#shortReceives = 0;
      return;
    }
    this.#shortMost = this.#shortReceives === 0 ? n : Math.max(this.#shortMost, n);
    if (++this.#shortReceives < SHRINK_AFTER) return;
    this.#shortReceives = 0;
    // Down to what still leaves twice the run's largest receive, so that a steady flow of
    // medium receives does not make the buffer bounce between sizes.
    let fit = MIN_RECEIVE;
    while (fit < 2 * this.#shortMost) fit *= 2;
    if (fit < size) this.buffer = new Uint8Array(fit);
  }
}
