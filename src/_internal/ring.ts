/**
 * The FIFO ring buffer that the thread pool's queues and the Selector's ready list share.
 *
 * @module
 */

const INITIAL_CAPACITY = 16;
/** The storage of every empty ring that has not grown: nothing is ever written into it. */
const NO_ITEMS: never[] = [];
/** An emptied ring larger than this goes back to its initial capacity. */
const SHRINK_ABOVE = 1024;

/**
 * A FIFO queue on a power-of-two ring: O(1) push and shift, growing by doubling, and back to
 * no storage once emptied after growing large. A ring allocates nothing until its first push,
 * so an object that keeps one for the rare case costs little while it stays empty.
 *
 * @example
 * ```ts
 * import { Ring } from "./ring.ts";
 * const ring = new Ring<string>();
 * ring.push("a");
 * ring.push("b");
 * console.log(ring.shift(), ring.length); // "a" 1
 * ```
 */
export class Ring<T> {
  #items: (T | undefined)[] = NO_ITEMS;
  #head = 0;
  #length = 0;

  /** How many items are queued. */
  get length(): number {
    return this.#length;
  }

  /** Adds `item` at the tail. */
  push(item: T): void {
    if (this.#length === this.#items.length) this.#grow();
    this.#items[(this.#head + this.#length) & (this.#items.length - 1)] = item;
    this.#length++;
  }

  /** The item at the head, without removing it. */
  peek(): T | undefined {
    return this.#length === 0 ? undefined : this.#items[this.#head];
  }

  /** Removes and returns the item at the head. */
  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) & (this.#items.length - 1);
    this.#length--;
    if (this.#length === 0 && this.#items.length > SHRINK_ABOVE) this.clear();
    return item;
  }

  /** Drops every item. */
  clear(): void {
    this.#items = NO_ITEMS;
    this.#head = 0;
    this.#length = 0;
  }

  #grow(): void {
    const old = this.#items;
    const items = new Array<T | undefined>(Math.max(INITIAL_CAPACITY, old.length * 2));
    for (let i = 0; i < this.#length; i++) items[i] = old[(this.#head + i) & (old.length - 1)];
    this.#items = items;
    this.#head = 0;
  }
}
