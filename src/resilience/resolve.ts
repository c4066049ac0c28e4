/**
 * Name resolution for the resilience kit: a pluggable {@linkcode Resolver}, a default one on
 * `node:dns`, and shortcuts that need no DNS for IP literals and `localhost`.
 *
 * @module
 */

import { NetError, toNetError } from "../runtime/errors.ts";

/**
 * An address family: 6 for IPv6, 4 for IPv4.
 *
 * @example
 * ```ts
 * const family: AddressFamily = 6;
 * ```
 */
export type AddressFamily = 4 | 6;

/**
 * Looks up the addresses of `hostname` in one family. Resolves with an empty list when the
 * name has no address of that family; rejects with a `NetError` (such as `ENOTFOUND` or
 * `EAI_AGAIN`) when the lookup fails. Aborting `signal` should reject it.
 *
 * @example
 * ```ts
 * const fixed: Resolver = (hostname, { family }) =>
 *   Promise.resolve(family === 6 ? ["::1"] : ["127.0.0.1"]);
 * ```
 */
export type Resolver = (
  hostname: string,
  options: { family: AddressFamily; signal?: AbortSignal },
) => Promise<string[]>;

/**
 * A resolved address.
 *
 * @example
 * ```ts
 * const address: ResolvedAddress = { address: "::1", family: 6 };
 * ```
 */
export interface ResolvedAddress {
  /** The IP address. */
  address: string;
  /** Its family. */
  family: AddressFamily;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * The family of an IP literal, or undefined when `hostname` is a name. IPv6 literals may be
 * written in brackets.
 *
 * @example
 * ```ts
 * ipFamily("127.0.0.1"); // 4
 * ipFamily("[::1]");     // 6
 * ipFamily("example.com"); // undefined
 * ```
 */
export function ipFamily(hostname: string): AddressFamily | undefined {
  const host = stripBrackets(hostname);
  if (IPV4.test(host)) return 4;
  if (host.includes(":") && /^[0-9a-fA-F:.]+(%[\w.-]+)?$/.test(host)) return 6;
  return undefined;
}

function stripBrackets(hostname: string): string {
  return hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
}

/**
 * The addresses of a name that never needs DNS: an IP literal is itself, and `localhost` (and
 * any name under `.localhost`, as RFC 6761 reserves them) is `::1` and `127.0.0.1`. Returns
 * undefined for other names.
 *
 * @example
 * ```ts
 * staticAddresses("localhost"); // [{ address: "::1", family: 6 }, { address: "127.0.0.1", family: 4 }]
 * ```
 */
export function staticAddresses(
  hostname: string,
): ResolvedAddress[] | undefined {
  const family = ipFamily(hostname);
  if (family !== undefined) {
    return [{ address: stripBrackets(hostname), family }];
  }
  const lower = hostname.toLowerCase().replace(/\.$/, "");
  if (lower === "localhost" || lower.endsWith(".localhost")) {
    return [{ address: "::1", family: 6 }, { address: "127.0.0.1", family: 4 }];
  }
  return undefined;
}

interface DnsLookupResult {
  address: string;
  family: number;
}
type DnsLookup = (
  hostname: string,
  options: { all: true; family: number },
) => Promise<DnsLookupResult[]>;

let lookupPromise: Promise<DnsLookup> | undefined;

// Deno, Bun and Node all provide node:dns, so one lazy import serves every runtime; it is
// loaded only when a real host name must be looked up, so code that passes its own resolver
// (or only uses IP literals) never touches it.
function loadLookup(): Promise<DnsLookup> {
  lookupPromise ??= import("node:dns").then((dns) => dns.promises.lookup as unknown as DnsLookup);
  return lookupPromise;
}

const NO_SUCH_FAMILY = new Set([
  "ENODATA",
  "EAI_NODATA",
  "ENOTFOUND",
  "EAI_NONAME",
  "EAI_ADDRFAMILY",
]);

/**
 * The default resolver: the system resolver (`getaddrinfo`, through `node:dns`'s
 * `promises.lookup(hostname, { all: true, family })`). A family with no address gives an empty
 * list. The lookup cannot be cancelled, but an abort rejects at once.
 *
 * @example
 * ```ts
 * const v4 = await systemResolver("example.com", { family: 4 });
 * ```
 */
export const systemResolver: Resolver = async (
  hostname,
  { family, signal },
): Promise<string[]> => {
  if (signal?.aborted) throw lookupCancelled(hostname, signal);
  const lookup = await loadLookup();
  const pending = lookup(hostname, { all: true, family }).then(
    (results) => results.filter((r) => r.family === family).map((r) => r.address),
    (error: unknown) => {
      const code = (error as { code?: unknown })?.code;
      if (typeof code === "string" && NO_SUCH_FAMILY.has(code)) {
        return [] as string[];
      }
      throw toNetError(error, { syscall: "getaddrinfo", address: hostname });
    },
  );
  if (!signal) return await pending;
  return await new Promise<string[]>((resolve, reject) => {
    const onAbort = () => reject(lookupCancelled(hostname, signal));
    signal.addEventListener("abort", onAbort, { once: true });
    pending.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
};

/**
 * The error of a lookup cancelled by `signal`.
 *
 * @example
 * ```ts
 * const error = lookupCancelled("example.com", AbortSignal.abort());
 * console.log(error.code); // "ECANCELED"
 * ```
 */
export function lookupCancelled(
  hostname: string,
  signal: AbortSignal,
): NetError {
  return new NetError("ECANCELED", `Lookup of ${hostname} was cancelled`, {
    cause: signal.reason,
    syscall: "getaddrinfo",
    address: hostname,
  });
}
