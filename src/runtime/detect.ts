/**
 * Which runtime this is, and the transport that fits it.
 *
 * @module
 */

import { availableParallelism as osParallelism, cpus } from "node:os";
import type { Transport, TransportName } from "./types.ts";

/**
 * The JavaScript runtimes sockmodels runs on.
 *
 * @example
 * ```ts
 * const runtime: RuntimeName = detectRuntime();
 * ```
 */
export type RuntimeName = "deno" | "bun" | "node";

/**
 * Detects the current runtime.
 *
 * @example
 * ```ts
 * console.log(detectRuntime()); // "deno", "bun" or "node"
 * ```
 */
export function detectRuntime(): RuntimeName {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  if (typeof g.Deno === "object" && g.Deno !== null) return "deno";
  if (typeof g.Bun === "object" && g.Bun !== null) return "bun";
  return "node";
}

/**
 * The transports usable on the current runtime: its native one, `node` (every runtime has
 * `node:net`), and `memory`.
 *
 * @example
 * ```ts
 * console.log(availableTransports()); // e.g. ["bun", "node", "memory"]
 * ```
 */
export function availableTransports(): TransportName[] {
  const runtime = detectRuntime();
  return runtime === "node" ? ["node", "memory"] : [runtime, "node", "memory"];
}

/**
 * Loads a transport by name. Only the chosen runtime's module is loaded.
 *
 * @example
 * ```ts
 * const memory = await loadTransport("memory");
 * ```
 */
export async function loadTransport(name: TransportName): Promise<Transport> {
  switch (name) {
    case "deno":
      return (await import("./deno.ts")).denoTransport;
    case "bun":
      return (await import("./bun.ts")).bunTransport;
    case "node":
      return (await import("./node.ts")).nodeTransport;
    case "memory":
      return (await import("./memory.ts")).memoryTransport;
    default:
      throw new TypeError(
        `Unknown transport ${JSON.stringify(name)}; expected deno, bun, node or memory`,
      );
  }
}

/**
 * The native transport of the current runtime.
 *
 * @example
 * ```ts
 * const transport = await defaultTransport();
 * const listener = await transport.listen({ port: 0, onAccept: (s) => s.close() });
 * ```
 */
export function defaultTransport(): Promise<Transport> {
  return loadTransport(detectRuntime());
}

/**
 * How many CPUs this process may use (at least 1). Every runtime provides `node:os`.
 *
 * @example
 * ```ts
 * const workers = 2 * availableParallelism(); // seed 002's N = C x (1 + wait/compute)
 * ```
 */
export function availableParallelism(): number {
  try {
    return Math.max(1, typeof osParallelism === "function" ? osParallelism() : cpus().length);
  } catch {
    return 1;
  }
}
