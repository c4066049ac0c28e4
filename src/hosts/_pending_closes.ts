/**
 * Graceful closes still in progress, so that a server shutting down can wait for them all.
 *
 * @module
 */

/**
 * The graceful closes a server has started and that have not settled yet. A close that fails
 * (the peer reset meanwhile) counts as settled: shutting down only waits, it reports nothing.
 *
 * @example
 * ```ts
 * import type { NonBlockingSocket } from "sockmodels/nonblocking";
 * declare const socket: NonBlockingSocket;
 * const closes = new PendingCloses();
 * closes.close(socket); // closesocket, in the background
 * await closes.settled(); // at shutdown
 * ```
 */
export class PendingCloses {
  #pending = new Set<Promise<void>>();

  /** How many closes are still in progress. */
  get size(): number {
    return this.#pending.size;
  }

  /** Starts closing `socket` gracefully, and remembers the close until it settles. */
  close(socket: { close(): Promise<void> }): void {
    const done = socket.close().catch(() => {});
    this.#pending.add(done);
    void done.then(() => this.#pending.delete(done));
  }

  /** Resolves once every close started so far, and any started meanwhile, has settled. */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all(this.#pending);
  }
}
