/**
 * Closing a host's clients: gracefully first, by force after a grace period.
 *
 * @module
 */

import type { Peer } from "./types.ts";

/**
 * How long a host that is shutting down lets its clients take what is queued for them.
 *
 * @example
 * ```ts
 * console.log(PEER_CLOSE_GRACE_MS); // 2000
 * ```
 */
export const PEER_CLOSE_GRACE_MS = 2000;

/**
 * Asks every peer to close (each sends what is queued first), waits until `remaining()` is 0
 * or `graceMs` has passed, then resets the peers still open.
 *
 * @example
 * ```ts
 * import type { Peer } from "./types.ts";
 * declare const peers: Map<number, Peer>; // the host's open clients, by id
 * await closePeers(() => [...peers.values()], PEER_CLOSE_GRACE_MS);
 * ```
 */
export async function closePeers(open: () => Peer[], graceMs: number = PEER_CLOSE_GRACE_MS): Promise<void> {
  for (const peer of open()) peer.close();
  const deadline = Date.now() + graceMs;
  while (open().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  for (const peer of open()) peer.reset();
}
