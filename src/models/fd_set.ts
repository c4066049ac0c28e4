/**
 * The socket sets of {@linkcode select}: Winsock's `fd_set`, capped like FD_SETSIZE.
 *
 * @module
 */

import type { Watchable } from "../core/socket_core.ts";
import { coreOf } from "./_wait.ts";
import type { Selectable } from "./readiness.ts";

/**
 * The default capacity of an {@linkcode FdSet}: 64, Windows' FD_SETSIZE.
 *
 * @example
 * ```ts
 * new FdSet().setSize === FD_SETSIZE; // true
 * ```
 */
export const FD_SETSIZE: number = 64;

/**
 * Options of an {@linkcode FdSet}.
 *
 * @example
 * ```ts
 * const opts: FdSetOptions = { setSize: 1024 }; // like #define FD_SETSIZE 1024
 * ```
 */
export interface FdSetOptions {
  /** The most sockets the set holds, like FD_SETSIZE. Default 64. */
  setSize?: number;
}

/** The cores of a set's sockets, in order: its first `set.size` entries. For `select` only; not exported. */
export let coresOf: (set: FdSet) => readonly Watchable[];
/**
 * Keeps in `set` only the sockets whose byte in `ready` (from `offset`) is set. For `select`
 * only; not exported from the package.
 */
export let retainReady: (set: FdSet, ready: Uint8Array, offset: number) => void;

/**
 * A set of sockets for {@linkcode select}, Winsock's `fd_set`: at most `setSize` sockets
 * (FD_SETSIZE, 64 by default), kept in the order they were added. The Winsock macros map to:
 *
 * | Winsock | here |
 * |---|---|
 * | `FD_ZERO(&set)` | `set.clear()` |
 * | `FD_SET(s, &set)` | `set.add(s)` |
 * | `FD_CLR(s, &set)` | `set.delete(s)` |
 * | `FD_ISSET(s, &set)` | `set.has(s)` |
 * | `set.fd_count`, `set.fd_array[i]` | `set.size`, `set.at(i)` or `for (const s of set)` |
 * | `fd_set copy = master;` | `new FdSet(master)` |
 *
 * A socket is one member however it is given: the socket, or its core. `select` leaves in
 * the set only the members that are ready, as Winsock does, so build the sets again before
 * every call (or copy a master set).
 *
 * @example
 * ```ts
 * import type { NonBlockingListener } from "sockmodels/nonblocking";
 * import { FdSet, select } from "sockmodels/select";
 * declare const listener: NonBlockingListener;
 * const master = new FdSet([listener]);       // FD_ZERO + FD_SET
 * const readSet = new FdSet(master);           // readSet = masterSet
 * await select(readSet, null, null);
 * for (const s of readSet) console.log("ready:", s);
 * ```
 */
export class FdSet<T extends Selectable = Selectable> implements Iterable<T> {
  /** The capacity (FD_SETSIZE). */
  readonly setSize: number;
  // The members are the first #size slots of #items and #cores. The arrays and the map keep
  // their storage across clear(), so that a set rebuilt on every pass (FD_ZERO, then FD_SET
  // for each socket) allocates nothing once it has held that many sockets.
  #items: (T | undefined)[] = [];
  #cores: (Watchable | undefined)[] = [];
  #size = 0;
  /** Core to the generation it was added in; a member is a core of the current generation. */
  #members = new Map<Watchable, number>();
  #generation = 0;
  /** About the most members the set held lately: it rises with every add and decays by a tenth per generation. */
  #held = 0;

  static {
    coresOf = (set) => set.#cores as Watchable[];
    retainReady = (set, ready, offset) => {
      const items = set.#items;
      const cores = set.#cores;
      const size = set.#size;
      const generation = set.#nextGeneration();
      let kept = 0;
      for (let i = 0; i < size; i++) {
        if (ready[offset + i]) {
          set.#members.set(cores[i]!, generation);
          items[kept] = items[i];
          cores[kept++] = cores[i];
        }
      }
      items.fill(undefined, kept, size);
      cores.fill(undefined, kept, size);
      set.#size = kept;
    };
  }

  /** Starts a new generation, in which nothing is a member yet. */
  #nextGeneration(): number {
    // Entries of earlier generations are dropped once they far outnumber what the set holds,
    // so that sockets that left it are not kept alive by it; a set refilled on every pass keeps
    // its map.
    if (this.#members.size > 2 * this.#held + 64) this.#members = new Map();
    this.#held = Math.floor(this.#held * 0.9);
    return ++this.#generation;
  }

  /**
   * An empty set (`new FdSet({ setSize })`), or one holding `init`'s sockets
   * (`new FdSet([a, b], { setSize })`). Copying another FdSet keeps its `setSize` unless
   * `options` gives one.
   */
  constructor(init?: Iterable<T> | FdSetOptions, options?: FdSetOptions) {
    let items: Iterable<T> | undefined;
    let opts = options;
    if (init !== undefined && init !== null && typeof (init as Iterable<T>)[Symbol.iterator] === "function") {
      items = init as Iterable<T>;
      if (opts === undefined && init instanceof FdSet) opts = { setSize: init.setSize };
    } else if (init !== undefined) {
      if (options !== undefined) throw new TypeError("FdSet takes the options once: new FdSet(items, options)");
      opts = init as FdSetOptions;
    }
    const setSize = opts?.setSize ?? FD_SETSIZE;
    if (!Number.isInteger(setSize) || setSize < 1) {
      throw new RangeError(`FdSet setSize must be a positive integer, got ${setSize}`);
    }
    this.setSize = setSize;
    if (items) { for (const s of items) this.add(s); }
  }

  /** How many sockets are in the set (`fd_count`). */
  get size(): number {
    return this.#size;
  }

  /**
   * FD_SET: adds a socket (nothing happens if it is already in). Throws a RangeError when the
   * set already holds `setSize` sockets.
   */
  add(socket: T): this {
    const core = coreOf(socket);
    if (this.#members.get(core) === this.#generation) return this;
    if (this.#size >= this.setSize) {
      throw new RangeError(
        `Too many sockets for select: adding socket number ${this.#size + 1} exceeds the set size of ` +
          `${this.setSize} (FD_SETSIZE). Create the FdSet with a larger setSize, as #define FD_SETSIZE does ` +
          `before including winsock2.h, or split the sockets over several sets.`,
      );
    }
    this.#members.set(core, this.#generation);
    this.#items[this.#size] = socket;
    this.#cores[this.#size++] = core;
    if (this.#size > this.#held) this.#held = this.#size;
    return this;
  }

  /** FD_CLR: removes a socket; returns whether it was in the set. */
  delete(socket: Selectable): boolean {
    const core = coreOf(socket);
    if (this.#members.get(core) !== this.#generation) return false;
    this.#members.delete(core);
    const i = this.#cores.indexOf(core);
    this.#items.copyWithin(i, i + 1, this.#size);
    this.#cores.copyWithin(i, i + 1, this.#size);
    this.#size--;
    this.#items[this.#size] = undefined;
    this.#cores[this.#size] = undefined;
    return true;
  }

  /** FD_ISSET: whether the socket is in the set (after `select`: whether it is ready). */
  has(socket: Selectable): boolean {
    return this.#members.get(coreOf(socket)) === this.#generation;
  }

  /** FD_ZERO: empties the set. */
  clear(): void {
    this.#items.fill(undefined, 0, this.#size);
    this.#cores.fill(undefined, 0, this.#size);
    this.#nextGeneration();
    this.#size = 0;
  }

  /** The socket at `index` in the order added (`fd_array[index]`), or undefined. */
  at(index: number): T | undefined {
    return index >= 0 && index < this.#size ? this.#items[index] : undefined;
  }

  /** The sockets, in the order they were added. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.#size; i++) yield this.#items[i] as T;
  }
}
