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
  | "CERT_UNTRUSTED"
  | "CERT_SELF_SIGNED"
  | "CERT_NAME_MISMATCH"
  | "CERT_EXPIRED"
  | "CERT_REQUIRED"
  | "ALPN_MISMATCH"
  | "TLS_HANDSHAKE_TIMEOUT"
  | "TLS_PROTOCOL"
  | "PROXY_PROTOCOL"
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
  // TLS failures carry the Schannel status a Windows server would see for the same failure.
  CERT_UNTRUSTED: {
    winsockName: "CERT_E_CHAINING",
    winsockCode: 0x800b010a,
    text: "The peer's certificate does not chain to a trusted CA.",
  },
  CERT_SELF_SIGNED: {
    winsockName: "SEC_E_UNTRUSTED_ROOT",
    winsockCode: 0x80090325,
    text: "The peer's certificate is self-signed and not trusted.",
  },
  CERT_NAME_MISMATCH: {
    winsockName: "SEC_E_WRONG_PRINCIPAL",
    winsockCode: 0x80090322,
    text: "The peer's certificate is not valid for the name that was asked for.",
  },
  CERT_EXPIRED: {
    winsockName: "SEC_E_CERT_EXPIRED",
    winsockCode: 0x80090328,
    text: "The peer's certificate has expired or is not valid yet.",
  },
  CERT_REQUIRED: {
    winsockName: "SEC_E_NO_CREDENTIALS",
    winsockCode: 0x8009030e,
    text: "The server requires a client certificate, and none was sent.",
  },
  ALPN_MISMATCH: {
    winsockName: "SEC_E_APPLICATION_PROTOCOL_MISMATCH",
    winsockCode: 0x80090367,
    text: "The two sides share no application protocol (ALPN).",
  },
  TLS_HANDSHAKE_TIMEOUT: {
    winsockName: "WSAETIMEDOUT",
    winsockCode: 10060,
    text: "The TLS handshake did not finish in time.",
  },
  TLS_PROTOCOL: {
    winsockName: "SEC_E_ILLEGAL_MESSAGE",
    winsockCode: 0x80090326,
    text: "The peer does not speak TLS, or broke the protocol.",
  },
  PROXY_PROTOCOL: {
    winsockName: "WSAECONNABORTED",
    winsockCode: 10053,
    text: "The PROXY protocol header is missing, malformed or not allowed from this peer.",
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

// OpenSSL's verify results and alerts, as Node and Bun report them in `code`.
const OPENSSL_CODES: Record<string, NetErrorCode> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "CERT_UNTRUSTED",
  UNABLE_TO_GET_ISSUER_CERT: "CERT_UNTRUSTED",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "CERT_UNTRUSTED",
  SELF_SIGNED_CERT_IN_CHAIN: "CERT_UNTRUSTED",
  CERT_UNTRUSTED: "CERT_UNTRUSTED",
  CERT_SIGNATURE_FAILURE: "CERT_UNTRUSTED",
  CERT_REJECTED: "CERT_UNTRUSTED",
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: "CERT_UNTRUSTED",
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: "CERT_UNTRUSTED",
  DEPTH_ZERO_SELF_SIGNED_CERT: "CERT_SELF_SIGNED",
  ERR_TLS_CERT_ALTNAME_INVALID: "CERT_NAME_MISMATCH",
  HOSTNAME_MISMATCH: "CERT_NAME_MISMATCH",
  IP_ADDRESS_MISMATCH: "CERT_NAME_MISMATCH",
  CERT_HAS_EXPIRED: "CERT_EXPIRED",
  CERT_NOT_YET_VALID: "CERT_EXPIRED",
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED: "CERT_EXPIRED",
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: "CERT_REQUIRED",
  ERR_SSL_TLSV1_ALERT_CERTIFICATE_REQUIRED: "CERT_REQUIRED",
  ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE: "CERT_REQUIRED",
  ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL: "ALPN_MISMATCH",
  ERR_SSL_NO_APPLICATION_PROTOCOL: "ALPN_MISMATCH",
  ERR_TLS_HANDSHAKE_TIMEOUT: "TLS_HANDSHAKE_TIMEOUT",
};

// rustls's verdicts as Deno words them ("invalid peer certificate: UnknownIssuer").
const RUSTLS_TEXTS: [RegExp, NetErrorCode][] = [
  [/NotValidForName|not valid for name/i, "CERT_NAME_MISMATCH"],
  [/Expired|NotValidYet|not valid yet/i, "CERT_EXPIRED"],
  // A CA certificate serving as its own leaf: what `openssl req -x509` makes, a self-signed one.
  [/CaUsedAsEndEntity/, "CERT_SELF_SIGNED"],
  [/UnknownIssuer|BadSignature|UnknownCA|CertificateUnknown|BadCertificate|bad certificate/i, "CERT_UNTRUSTED"],
  [/CertificateRequired|certificate required|NoCertificatesPresented|peer sent no certificates/i, "CERT_REQUIRED"],
  [/NoApplicationProtocol|no application protocol|doesn't support any known protocol/i, "ALPN_MISMATCH"],
  [
    /corrupt message|InvalidContentType|InvalidMessage|peer is incompatible|PeerIncompatible|HandshakeFailure|unexpected message|record overflow/i,
    "TLS_PROTOCOL",
  ],
];

/** The TLS code of a runtime's handshake or verification failure, if it is one. */
function classifyTls(e: { code?: unknown; name?: unknown; message?: unknown }): NetErrorCode | undefined {
  const code = typeof e.code === "string" ? e.code : "";
  if (Object.hasOwn(OPENSSL_CODES, code)) return OPENSSL_CODES[code];
  if (typeof e.message === "string") {
    // Bun keeps OpenSSL's reason only in the text: "error:...:SSL routines:...:HTTP_REQUEST".
    const reason = /SSL routines:[^:]*:([A-Z0-9_]+)$/m.exec(e.message);
    if (reason && Object.hasOwn(OPENSSL_CODES, `ERR_SSL_${reason[1]}`)) return OPENSSL_CODES[`ERR_SSL_${reason[1]}`];
    // Deno, and its node:tls, word rustls's verdicts.
    if (e.name === "InvalidData" || code.startsWith("ERR_SSL_") || /peer certificate|fatal alert/.test(e.message)) {
      for (const [pattern, tlsCode] of RUSTLS_TEXTS) if (pattern.test(e.message)) return tlsCode;
    }
    if (reason) return "TLS_PROTOCOL";
  }
  return code.startsWith("ERR_SSL_") ? "TLS_PROTOCOL" : undefined;
}

function classify(error: unknown): NetErrorCode {
  if (typeof error === "object" && error !== null) {
    const e = error as { code?: unknown; name?: unknown; message?: unknown };
    const tlsCode = classifyTls(e);
    if (tlsCode) return tlsCode;
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
