/**
 * Closes the clients of a peer host that sent no complete frame for a while. It wraps the
 * application, so every host gets it through the same contract: the clock restarts on each
 * frame, not on each byte, so a client that drips a byte now and then is idle too.
 *
 * @module
 */

import type { Peer, PeerApp } from "./types.ts";

/** How long a closed idle client may take to read its last lines before it is reset. */
const IDLE_CLOSE_GRACE_MS = 2000;

/**
 * A {@linkcode PeerApp} that passes everything on to `app` and closes idle clients.
 *
 * @example
 * ```ts
 * const watched = new IdlePeers({ onFrame: (peer, frame) => peer.send(frame) }, 300_000);
 * // start a host with app: watched; then, when the host closes:
 * watched.stop();
 * ```
 */
export class IdlePeers implements PeerApp {
  readonly #app: PeerApp;
  readonly #idleMs: number;
  readonly #lastFrame = new Map<Peer, number>();
  readonly #resets = new Set<ReturnType<typeof setTimeout>>();
  readonly #sweep: ReturnType<typeof setInterval>;

  /**
   * @param app The application.
   * @param idleMs How long a client may go without sending a complete frame.
   */
  constructor(app: PeerApp, idleMs: number) {
    if (!(Number.isFinite(idleMs) && idleMs > 0)) {
      throw new RangeError(`Idle timeout must be a positive number of milliseconds, got ${idleMs}`);
    }
    this.#app = app;
    this.#idleMs = idleMs;
    this.#sweep = setInterval(() => this.#closeIdle(), Math.max(10, Math.min(1000, Math.floor(idleMs / 4))));
  }

  onOpen(peer: Peer): void {
    this.#lastFrame.set(peer, Date.now());
    this.#app.onOpen?.(peer);
  }

  onFrame(peer: Peer, frame: Uint8Array): void {
    if (this.#lastFrame.has(peer)) this.#lastFrame.set(peer, Date.now());
    this.#app.onFrame(peer, frame);
  }

  onFrameError(peer: Peer, error: Error): void {
    this.#app.onFrameError?.(peer, error);
  }

  onClose(peer: Peer, error?: Error): void {
    this.#lastFrame.delete(peer);
    this.#app.onClose?.(peer, error);
  }

  onIdle(peer: Peer, idleMs: number): void {
    this.#app.onIdle?.(peer, idleMs);
  }

  /** Stops watching; call it when the host closes. */
  stop(): void {
    clearInterval(this.#sweep);
    for (const timer of this.#resets) clearTimeout(timer);
    this.#resets.clear();
  }

  #closeIdle(): void {
    const now = Date.now();
    for (const [peer, last] of this.#lastFrame) {
      if (now - last < this.#idleMs) continue;
      // Watched no longer: its onClose still comes, from the host.
      this.#lastFrame.delete(peer);
      if (peer.closing) continue;
      this.onIdle(peer, now - last);
      peer.close();
      const timer = setTimeout(() => {
        this.#resets.delete(timer);
        peer.reset();
      }, IDLE_CLOSE_GRACE_MS);
      this.#resets.add(timer);
    }
  }
}
