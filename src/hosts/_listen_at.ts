/**
 * Where an app server listens unless told otherwise: 127.0.0.1 and an ephemeral port, on the
 * given transport (the listeners pick the runtime's own when it is undefined).
 *
 * @module
 */

import type { Transport } from "../runtime/types.ts";

/**
 * The listen options of an app server, with its defaults filled in.
 *
 * @example
 * ```ts
 * import { NonBlockingListener } from "../models/nonblocking.ts";
 * const listener = await NonBlockingListener.listen(listenAt({ port: 9000 }));
 * ```
 */
export function listenAt(
  options: { transport?: Transport; hostname?: string; port?: number },
): { transport: Transport | undefined; hostname: string; port: number } {
  return { transport: options.transport, hostname: options.hostname ?? "127.0.0.1", port: options.port ?? 0 };
}
