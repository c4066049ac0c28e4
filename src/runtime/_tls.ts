/**
 * What the TLS code of the three runtime transports shares: option checks, PEM text, the
 * handshake deadline and the peer certificate's shape.
 *
 * @module
 */

import { formatHostPort, NetError } from "./errors.ts";
import type { Pem, TlsClientOptions, TlsPeerCertificate, TlsServerOptions } from "./types.ts";

/** How long a handshake may take when `handshakeTimeoutMs` is not given. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

const decoder = new TextDecoder();

/** A PEM given as text or bytes, as text. */
export function pemText(pem: Pem): string {
  return typeof pem === "string" ? pem : decoder.decode(pem);
}

/** The handshake deadline of `options`, checked. */
export function handshakeTimeoutOf(options: { handshakeTimeoutMs?: number }): number {
  const ms = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  if (!(ms > 0) || !Number.isFinite(ms)) {
    throw new RangeError(`TLS handshake timeout must be a positive number of milliseconds, got ${ms}`);
  }
  return ms;
}

function checkPem(value: unknown, what: string, required: boolean): void {
  if (value === undefined && !required) return;
  if (typeof value === "string" ? value.includes("-----BEGIN ") : value instanceof Uint8Array) return;
  throw new TypeError(`TLS ${what} must be PEM text or its bytes, got ${describe(value)}`);
}

function checkAlpn(protocols: unknown): void {
  if (protocols === undefined) return;
  if (
    !Array.isArray(protocols) || protocols.length === 0 ||
    protocols.some((p) => typeof p !== "string" || p.length === 0 || p.length > 255)
  ) {
    throw new TypeError(
      `ALPN protocols must be a non-empty list of names of 1 to 255 bytes, got ${describe(protocols)}`,
    );
  }
}

function describe(value: unknown): string {
  if (typeof value === "string") return value.length > 40 ? `"${value.slice(0, 40)}..."` : JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(describe).join(", ")}]`;
  return value === null ? "null" : typeof value;
}

/** Checks a listener's TLS options before anything is bound. */
export function checkTlsServerOptions(tls: TlsServerOptions): void {
  if (typeof tls !== "object" || tls === null) {
    throw new TypeError(`TLS options must be an object, got ${describe(tls)}`);
  }
  checkPem(tls.cert, "cert", true);
  checkPem(tls.key, "key", true);
  checkPem(tls.ca, "ca", false);
  checkAlpn(tls.alpnProtocols);
  handshakeTimeoutOf(tls);
  if (tls.requestClientCert && tls.ca === undefined) {
    throw new TypeError("TLS requestClientCert needs a ca to verify client certificates against");
  }
}

/** Checks a connection's TLS options before anything is sent. */
export function checkTlsClientOptions(tls: TlsClientOptions): void {
  if (typeof tls !== "object" || tls === null) {
    throw new TypeError(`TLS options must be an object, got ${describe(tls)}`);
  }
  checkPem(tls.ca, "ca", false);
  checkPem(tls.cert, "cert", false);
  checkPem(tls.key, "key", false);
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new TypeError("A TLS client certificate needs both cert and key");
  }
  checkAlpn(tls.alpnProtocols);
  handshakeTimeoutOf(tls);
  if (tls.serverName !== undefined && (typeof tls.serverName !== "string" || tls.serverName === "")) {
    throw new TypeError(`TLS serverName must be a non-empty string, got ${describe(tls.serverName)}`);
  }
}

/** The error for a handshake that did not finish within `ms`. */
export function handshakeTimeoutError(ms: number, hostname: string, port: number): NetError {
  return new NetError(
    "TLS_HANDSHAKE_TIMEOUT",
    `TLS handshake with ${formatHostPort(hostname, port)} did not finish within ${ms} ms`,
    { syscall: "handshake", address: hostname, port },
  );
}

/** The fields of a Node or Bun `getPeerCertificate()` result this module reads. */
export interface NodePeerCertificate {
  subject?: Record<string, string | string[] | undefined>;
  issuer?: Record<string, string | string[] | undefined>;
  subjectaltname?: string;
  valid_from?: string;
  valid_to?: string;
  fingerprint256?: string;
}

function distinguishedName(name: Record<string, string | string[] | undefined> | undefined): string {
  if (!name) return "";
  return Object.entries(name).filter(([, v]) => v !== undefined).map(([k, v]) =>
    `${k}=${Array.isArray(v) ? v.join("+") : v}`
  ).join(", ");
}

/** A Node or Bun peer certificate in the contract's shape; undefined when none was sent. */
export function toPeerCertificate(cert: NodePeerCertificate | null | undefined): TlsPeerCertificate | undefined {
  if (!cert || Object.keys(cert).length === 0 || !cert.subject) return undefined;
  return {
    subject: distinguishedName(cert.subject),
    issuer: distinguishedName(cert.issuer),
    subjectAltNames: cert.subjectaltname ? cert.subjectaltname.split(", ").map(normalizeAltName) : [],
    validFrom: new Date(cert.valid_from ?? NaN),
    validTo: new Date(cert.valid_to ?? NaN),
    fingerprint256: cert.fingerprint256 ?? "",
  };
}

/** OpenSSL writes `IP Address:`; the contract uses the short `IP:` of the config syntax. */
function normalizeAltName(name: string): string {
  return name.startsWith("IP Address:") ? `IP:${name.slice("IP Address:".length)}` : name;
}

/** ALPN names in the wire format of the TLS extension: each name after its length byte. */
export function alpnWire(protocols: readonly string[]): Uint8Array {
  const names = protocols.map((p) => new TextEncoder().encode(p));
  const wire = new Uint8Array(names.reduce((n, name) => n + 1 + name.byteLength, 0));
  let at = 0;
  for (const name of names) {
    wire[at++] = name.byteLength;
    wire.set(name, at);
    at += name.byteLength;
  }
  return wire;
}

/** Whether `name` is an IP address (which SNI cannot carry) rather than a host name. */
export function isIpAddress(name: string): boolean {
  return name.includes(":") || /^\d{1,3}(\.\d{1,3}){3}$/.test(name);
}
