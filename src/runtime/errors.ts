/**
 * Network errors with one stable code on every runtime, and their Winsock names and numbers.
 *
 * @module
 */

/**
 * The stable error codes that {@linkcode NetError} carries.
 *
 * @example
 * ```ts
 * const code: NetErrorCode = "ECONNRESET";
 * ```
 */
export type NetErrorCode =
  | "ECONNRESET"
  | "ECONNREFUSED"
  | "ECONNABORTED"
  | "ETIMEDOUT"
  | "EADDRINUSE"
  | "EADDRNOTAVAIL"
  | "EPIPE"
  | "ENOTCONN"
  | "ECANCELED"
  | "EHOSTUNREACH"
  | "ENETUNREACH"
  | "ENETDOWN"
  | "EAI_AGAIN"
  | "ENOTFOUND"
  | "EWOULDBLOCK"
  | "EINVAL"
  | "EACCES"
  | "EMFILE"
  | "ENOBUFS"
  | "EMSGSIZE"
  | "ENOTSUP"
  | "EISCONN"
  | "EALREADY"
  | "EUNKNOWN";

interface CodeInfo {
  winsockName: string;
  winsockCode: number;
  text: string;
}

const CODES: Record<NetErrorCode, CodeInfo> = {
  ECONNRESET: {
    winsockName: "WSAECONNRESET",
    winsockCode: 10054,
    text: "The connection was reset by the peer.",
  },
  ECONNREFUSED: {
    winsockName: "WSAECONNREFUSED",
    winsockCode: 10061,
    text: "The connection was refused: nothing is listening on that address and port.",
  },
  ECONNABORTED: {
    winsockName: "WSAECONNABORTED",
    winsockCode: 10053,
    text: "The connection was aborted on this side.",
  },
  ETIMEDOUT: {
    winsockName: "WSAETIMEDOUT",
    winsockCode: 10060,
    text: "The operation timed out: the peer did not answer in time.",
  },
  EADDRINUSE: {
    winsockName: "WSAEADDRINUSE",
    winsockCode: 10048,
    text: "The address and port are already in use.",
  },
  EADDRNOTAVAIL: {
    winsockName: "WSAEADDRNOTAVAIL",
    winsockCode: 10049,
    text: "The address is not available on this machine.",
  },
  EPIPE: {
    winsockName: "WSAESHUTDOWN",
    winsockCode: 10058,
    text: "The sending side is already shut down, so nothing more can be sent.",
  },
  ENOTCONN: {
    winsockName: "WSAENOTCONN",
    winsockCode: 10057,
    text: "The socket is not connected.",
  },
  ECANCELED: {
    winsockName: "WSA_OPERATION_ABORTED",
    winsockCode: 995,
    text: "The operation was cancelled before it completed.",
  },
  EHOSTUNREACH: {
    winsockName: "WSAEHOSTUNREACH",
    winsockCode: 10065,
    text: "No route to the host.",
  },
  ENETUNREACH: {
    winsockName: "WSAENETUNREACH",
    winsockCode: 10051,
    text: "The network cannot be reached.",
  },
  ENETDOWN: {
    winsockName: "WSAENETDOWN",
    winsockCode: 10050,
    text: "The network is down.",
  },
  EAI_AGAIN: {
    winsockName: "WSATRY_AGAIN",
    winsockCode: 11002,
    text: "The name lookup failed for now; it may succeed later.",
  },
  ENOTFOUND: {
    winsockName: "WSAHOST_NOT_FOUND",
    winsockCode: 11001,
    text: "The host name is not known.",
  },
  EWOULDBLOCK: {
    winsockName: "WSAEWOULDBLOCK",
    winsockCode: 10035,
    text: "The operation would block; try again when the socket is ready.",
  },
  EINVAL: {
    winsockName: "WSAEINVAL",
    winsockCode: 10022,
    text: "An argument was not valid.",
  },
  EACCES: {
    winsockName: "WSAEACCES",
    winsockCode: 10013,
    text: "Permission to use that address was denied.",
  },
  EMFILE: {
    winsockName: "WSAEMFILE",
    winsockCode: 10024,
    text: "Too many open sockets.",
  },
  ENOBUFS: {
    winsockName: "WSAENOBUFS",
    winsockCode: 10055,
    text: "The system ran out of buffer space.",
  },
  EMSGSIZE: {
    winsockName: "WSAEMSGSIZE",
    winsockCode: 10040,
    text: "The datagram is larger than the socket can send.",
  },
  ENOTSUP: {
    winsockName: "WSAEOPNOTSUPP",
    winsockCode: 10045,
    text: "The operation is not supported on this runtime or socket.",
  },
  EISCONN: {
    winsockName: "WSAEISCONN",
    winsockCode: 10056,
    text: "The socket is already connected.",
  },
  EALREADY: {
    winsockName: "WSAEALREADY",
    winsockCode: 10037,
    text: "An operation is already in progress on this socket.",
  },
  EUNKNOWN: {
    winsockName: "WSAEINVAL",
    winsockCode: 10022,
    text: "An unknown network error happened.",
  },
};

/**
 * Optional details of a {@linkcode NetError}.
 *
 * @example
 * ```ts
 * const details: NetErrorDetails = { syscall: "connect", address: "127.0.0.1", port: 1 };
 * ```
 */
export interface NetErrorDetails {
  /** The runtime's original error. */
  cause?: unknown;
  /** The system call or operation that failed. */
  syscall?: string;
  /** The address involved. */
  address?: string;
  /** The port involved. */
  port?: number;
  /** Bytes that `write` had accepted and that were never handed to the OS. */
  unsentBytes?: number;
}

/**
 * A network error with a stable `code`, its Winsock name and number, and the runtime's error as
 * `cause`.
 *
 * @example
 * ```ts
 * const err = new NetError("ECONNREFUSED", "Connection to 127.0.0.1:1 was refused");
 * console.log(err.code, err.winsockName, err.winsockCode); // ECONNREFUSED WSAECONNREFUSED 10061
 * ```
 */
export class NetError extends Error {
  /** The stable code, the same on every runtime. */
  readonly code: NetErrorCode;
  /** The Winsock name, such as `WSAECONNRESET`. */
  readonly winsockName: string;
  /** The Winsock number, such as 10054. */
  readonly winsockCode: number;
  /** The failed system call or operation, when known. */
  readonly syscall?: string;
  /** The address involved, when known. */
  readonly address?: string;
  /** The port involved, when known. */
  readonly port?: number;
  /** Bytes accepted by `write` that never reached the OS because of this error. */
  readonly unsentBytes: number;

  /** Creates an error; the message defaults to {@linkcode describeError}'s text. */
  constructor(code: NetErrorCode, message?: string, details: NetErrorDetails = {}) {
    const info = CODES[code] ?? CODES.EUNKNOWN;
    super(message ?? info.text, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "NetError";
    this.code = code;
    this.winsockName = info.winsockName;
    this.winsockCode = info.winsockCode;
    if (details.syscall !== undefined) this.syscall = details.syscall;
    if (details.address !== undefined) this.address = details.address;
    if (details.port !== undefined) this.port = details.port;
    this.unsentBytes = details.unsentBytes ?? 0;
  }
}

/**
 * The plain-language text for a code, the way Winsock's `FormatMessage` explains an error.
 * Accepts a stable code, a Winsock name or a Winsock number.
 *
 * @example
 * ```ts
 * describeError("ECONNRESET"); // "The connection was reset by the peer."
 * describeError(10061);        // "The connection was refused: ..."
 * ```
 */
export function describeError(code: NetErrorCode | string | number): string {
  const found = lookup(code);
  if (found) return found[1].text;
  return `Unknown error code ${JSON.stringify(code)}.`;
}

function lookup(code: string | number): [NetErrorCode, CodeInfo] | undefined {
  for (const [name, info] of Object.entries(CODES) as [NetErrorCode, CodeInfo][]) {
    if (name === code || info.winsockName === code || info.winsockCode === code) {
      return [name, info];
    }
  }
  return undefined;
}

// Error names used by Deno's `Deno.errors.*` classes, mapped to stable codes.
const DENO_ERROR_NAMES: Record<string, NetErrorCode> = {
  ConnectionRefused: "ECONNREFUSED",
  ConnectionReset: "ECONNRESET",
  ConnectionAborted: "ECONNABORTED",
  NotConnected: "ENOTCONN",
  AddrInUse: "EADDRINUSE",
  AddrNotAvailable: "EADDRNOTAVAIL",
  BrokenPipe: "EPIPE",
  TimedOut: "ETIMEDOUT",
  PermissionDenied: "EACCES",
  NotCapable: "EACCES",
  InvalidData: "EINVAL",
  NetworkUnreachable: "ENETUNREACH",
  HostUnreachable: "EHOSTUNREACH",
  NotSupported: "ENOTSUP",
};

const ALIASES: Record<string, NetErrorCode> = {
  EAGAIN: "EWOULDBLOCK",
  ERR_SOCKET_CLOSED: "EPIPE",
  ERR_STREAM_DESTROYED: "EPIPE",
  ERR_STREAM_WRITE_AFTER_END: "EPIPE",
  EAI_NONAME: "ENOTFOUND",
  EAI_NODATA: "ENOTFOUND",
  ABORT_ERR: "ECANCELED",
  ERR_SOCKET_CONNECTION_TIMEOUT: "ETIMEDOUT",
  EOPNOTSUPP: "ENOTSUP",
  ERR_SOCKET_DGRAM_NOT_RUNNING: "ENOTCONN",
  // Out of descriptors or memory, system-wide rather than per process: the same remedy.
  ENFILE: "EMFILE",
  ENOMEM: "ENOBUFS",
  // accept(2) passes on a protocol error of the pending connection.
  EPROTO: "ECONNABORTED",
};

/**
 * Whether `code` is one of the stable codes.
 *
 * @example
 * ```ts
 * isNetErrorCode("ECONNRESET"); // true
 * isNetErrorCode("EFOO");       // false
 * ```
 */
export function isNetErrorCode(code: unknown): code is NetErrorCode {
  return typeof code === "string" && Object.hasOwn(CODES, code);
}

/**
 * Turns any runtime error into a {@linkcode NetError}, keeping the original as `cause`.
 * A `NetError` is returned as it is.
 *
 * @example
 * ```ts
 * try {
 *   // ... a runtime socket call ...
 * } catch (e) {
 *   throw toNetError(e, { syscall: "connect", address: "127.0.0.1", port: 9000 });
 * }
 * ```
 */
export function toNetError(error: unknown, details: Omit<NetErrorDetails, "cause"> = {}): NetError {
  if (error instanceof NetError) return error;
  const code = classify(error);
  const original = error instanceof Error ? error.message : String(error);
  const where = details.address !== undefined
    ? ` (${details.syscall ?? "socket"} ${formatHostPort(details.address, details.port)})`
    : details.syscall !== undefined
    ? ` (${details.syscall})`
    : "";
  const message = `${CODES[code].text.replace(/\.$/, "")}${where}: ${original}`;
  return new NetError(code, message, { ...details, cause: error });
}

function classify(error: unknown): NetErrorCode {
  if (typeof error === "object" && error !== null) {
    const e = error as { code?: unknown; name?: unknown; message?: unknown };
    if (typeof e.code === "string") {
      if (isNetErrorCode(e.code)) return e.code;
      if (Object.hasOwn(ALIASES, e.code)) return ALIASES[e.code];
    }
    if (typeof e.name === "string") {
      if (Object.hasOwn(DENO_ERROR_NAMES, e.name)) return DENO_ERROR_NAMES[e.name];
      if (e.name === "AbortError") return "ECANCELED";
      if (e.name === "TimeoutError") return "ETIMEDOUT";
    }
    if (typeof e.message === "string") {
      const m = /\b(E[A-Z_]{3,})\b/.exec(e.message);
      if (m) {
        if (isNetErrorCode(m[1])) return m[1];
        if (Object.hasOwn(ALIASES, m[1])) return ALIASES[m[1]];
      }
      if (/connection reset/i.test(e.message)) return "ECONNRESET";
      if (/connection refused/i.test(e.message)) return "ECONNREFUSED";
      if (/broken pipe/i.test(e.message)) return "EPIPE";
      if (/address (already )?in use/i.test(e.message)) return "EADDRINUSE";
      if (/timed? ?out/i.test(e.message)) return "ETIMEDOUT";
    }
  }
  return "EUNKNOWN";
}

/**
 * Formats a host and port, with brackets around IPv6 addresses.
 *
 * @example
 * ```ts
 * formatHostPort("::1", 80);       // "[::1]:80"
 * formatHostPort("127.0.0.1", 80); // "127.0.0.1:80"
 * ```
 */
export function formatHostPort(hostname: string, port?: number): string {
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return port === undefined ? host : `${host}:${port}`;
}
