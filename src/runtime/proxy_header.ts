/**
 * The PROXY protocol header (HAProxy's `doc/proxy-protocol.txt`), versions 1 and 2: what a
 * load balancer sends first on each connection to say whom it carries. The parser is strict,
 * as the spec asks of a receiver, and incremental: it takes the header over any number of
 * reads and says how many bytes it used, so what follows reaches the application unchanged.
 *
 * @module
 */

import { NetError } from "./errors.ts";
import type { Addr } from "./types.ts";

/** Which header versions a receiver accepts. */
export type ProxyVersion = "v1" | "v2" | "any";

/**
 * One TLV of a version 2 header: its type and raw value. The well-known ones are also decoded
 * into the fields of {@linkcode ProxyHeader}.
 *
 * @example
 * ```ts
 * const tlv: ProxyTlv = { type: 0x05, value: new TextEncoder().encode("req-42") };
 * ```
 */
export interface ProxyTlv {
  /** The type byte, for example 0x01 ALPN, 0x02 authority, 0x03 CRC32C, 0x05 unique id, 0x20 SSL. */
  type: number;
  /** The value, as sent. */
  value: Uint8Array;
}

/**
 * The SSL TLV (0x20) of a version 2 header: what the balancer's TLS side saw.
 *
 * @example
 * ```ts
 * const ssl: ProxySsl = { client: 0x01, verify: 0, version: "TLSv1.3", tlvs: [] };
 * ```
 */
export interface ProxySsl {
  /** The PP2_CLIENT_* bits: 0x01 SSL, 0x02 a certificate on the connection, 0x04 on the session. */
  client: number;
  /** Zero when the client's certificate was verified. */
  verify: number;
  /** PP2_SUBTYPE_SSL_VERSION, for example "TLSv1.3". */
  version?: string;
  /** PP2_SUBTYPE_SSL_CN: the client certificate's common name. */
  commonName?: string;
  /** PP2_SUBTYPE_SSL_CIPHER. */
  cipher?: string;
  /** PP2_SUBTYPE_SSL_SIG_ALG. */
  signatureAlgorithm?: string;
  /** PP2_SUBTYPE_SSL_KEY_ALG. */
  keyAlgorithm?: string;
  /** Every sub-TLV, as sent. */
  tlvs: ProxyTlv[];
}

/**
 * A parsed PROXY header.
 *
 * @example
 * ```ts
 * import { parseProxyHeader } from "sockmodels/runtime";
 * const line = new TextEncoder().encode("PROXY TCP4 192.0.2.1 198.51.100.2 51000 443\r\n");
 * const parsed = parseProxyHeader(line, "any");
 * if (parsed) console.log(parsed.header.source?.hostname); // 192.0.2.1
 * ```
 */
export interface ProxyHeader {
  /** 1 for the text header, 2 for the binary one. */
  version: 1 | 2;
  /**
   * PROXY: the connection carries a client, whose addresses follow. LOCAL: the balancer speaks
   * for itself (a health check); the connection's own addresses stand.
   */
  command: "PROXY" | "LOCAL";
  /** The address family: v1's TCP4, TCP6 and UNKNOWN map to inet, inet6 and unspec. */
  family: "inet" | "inet6" | "unix" | "unspec";
  /** The transport protocol (v1 is always stream). */
  protocol: "stream" | "dgram" | "unspec";
  /** The client's address, for PROXY over inet or inet6. */
  source?: Addr;
  /** The address the client connected to, for PROXY over inet or inet6. */
  destination?: Addr;
  /** The socket paths, for PROXY over unix. */
  unix?: { source: string; destination: string };
  /** Every TLV, in order, unknown types included (v2 only). */
  tlvs: ProxyTlv[];
  /** PP2_TYPE_ALPN. */
  alpn?: string;
  /** PP2_TYPE_AUTHORITY: the host name the client asked for (SNI). */
  authority?: string;
  /** PP2_TYPE_CRC32C, checked against the header. */
  crc32c?: number;
  /** PP2_TYPE_UNIQUE_ID. */
  uniqueId?: Uint8Array;
  /** PP2_TYPE_SSL. */
  ssl?: ProxySsl;
  /** PP2_TYPE_NETNS: the namespace name. */
  netns?: string;
}

/** The 12 bytes that open a version 2 header. */
const V2_SIGNATURE = new Uint8Array([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = new TextEncoder().encode("PROXY ");
const ASCII = new TextDecoder();
/** A v1 header is at most 107 bytes, CRLF included. */
export const PROXY_V1_MAX_LENGTH = 107;

function fail(message: string): never {
  throw new NetError("PROXY_PROTOCOL", message);
}

/** The bytes shown in an error: printable ASCII as is, the rest as \xNN. */
function show(bytes: Uint8Array, limit = 40): string {
  let text = "";
  for (const b of bytes.subarray(0, limit)) {
    text += b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c
      ? String.fromCharCode(b)
      : `\\x${b.toString(16).padStart(2, "0")}`;
  }
  return `"${text}${bytes.byteLength > limit ? "…" : ""}"`;
}

/** Whether `bytes` (so far) is a prefix of `expected`, or starts with all of it. */
function agrees(bytes: Uint8Array, expected: Uint8Array): boolean {
  const n = Math.min(bytes.byteLength, expected.byteLength);
  for (let i = 0; i < n; i++) if (bytes[i] !== expected[i]) return false;
  return true;
}

/**
 * Parses a PROXY header at the start of `bytes`: the header and how many bytes it used, or
 * undefined while more bytes are needed. Throws a `NetError` (PROXY_PROTOCOL) naming what is
 * wrong as soon as the bytes cannot be a header of an accepted version.
 *
 * @example
 * ```ts
 * const bytes = new TextEncoder().encode("PROXY TCP4 192.0.2.1 198.51.100.2 51000 443\r\nhello");
 * const parsed = parseProxyHeader(bytes, "v1")!;
 * console.log(parsed.length, parsed.header.source?.port); // 45 51000
 * ```
 */
export function parseProxyHeader(
  bytes: Uint8Array,
  version: ProxyVersion,
): { header: ProxyHeader; length: number } | undefined {
  if (bytes.byteLength === 0) return undefined;
  const maybeV2 = version !== "v1" && agrees(bytes, V2_SIGNATURE);
  const maybeV1 = version !== "v2" && agrees(bytes, V1_PREFIX);
  if (maybeV2) return bytes.byteLength < 16 ? undefined : parseV2(bytes);
  if (maybeV1) return bytes.byteLength < V1_PREFIX.byteLength ? undefined : parseV1(bytes);
  const wanted = version === "v1" ? "a PROXY v1 line" : version === "v2" ? "the PROXY v2 signature" : "a PROXY header";
  return fail(`Expected ${wanted}, got ${show(bytes, 16)}`);
}

function parseV1(bytes: Uint8Array): { header: ProxyHeader; length: number } | undefined {
  const limit = Math.min(bytes.byteLength, PROXY_V1_MAX_LENGTH);
  let lf = -1;
  for (let i = 0; i < limit; i++) {
    if (bytes[i] === 0x0a) {
      lf = i;
      break;
    }
    if (bytes[i] < 0x20 && bytes[i] !== 0x0d) fail(`PROXY v1 line has control byte 0x${bytes[i].toString(16)} at ${i}`);
  }
  if (lf < 0) {
    if (bytes.byteLength >= PROXY_V1_MAX_LENGTH) {
      fail(`PROXY v1 line has no CRLF within ${PROXY_V1_MAX_LENGTH} bytes: ${show(bytes)}`);
    }
    return undefined;
  }
  if (lf === 0 || bytes[lf - 1] !== 0x0d) {
    fail(`PROXY v1 line must end with CRLF, got a lone LF: ${show(bytes.subarray(0, lf + 1))}`);
  }
  const line = ASCII.decode(bytes.subarray(0, lf - 1));
  if (line.includes("\r")) fail(`PROXY v1 line has a CR before its end: ${show(bytes.subarray(0, lf + 1))}`);
  const parts = line.split(" ");
  const length = lf + 1;
  if (parts[1] === "UNKNOWN") {
    // The spec lets a sender put anything after UNKNOWN; the receiver ignores it.
    return { header: { version: 1, command: "PROXY", family: "unspec", protocol: "unspec", tlvs: [] }, length };
  }
  if (parts.length !== 6) fail(`PROXY v1 line needs 6 single-space-separated fields, got ${JSON.stringify(line)}`);
  const [, family, src, dst, srcPort, dstPort] = parts;
  if (family !== "TCP4" && family !== "TCP6") {
    fail(`PROXY v1 protocol must be TCP4, TCP6 or UNKNOWN, got ${JSON.stringify(family)}`);
  }
  const v6 = family === "TCP6";
  const check = (address: string, what: string) => {
    if (!(v6 ? isCanonicalIpv6(address) : parseIpv4(address))) {
      fail(`PROXY v1 ${what} address is not a canonical ${v6 ? "IPv6" : "IPv4"} address: ${JSON.stringify(address)}`);
    }
  };
  check(src, "source");
  check(dst, "destination");
  const port = (text: string, what: string): number => {
    if (!/^(0|[1-9][0-9]{0,4})$/.test(text) || Number(text) > 65535) {
      fail(`PROXY v1 ${what} port must be 0 to 65535 without leading zeros, got ${JSON.stringify(text)}`);
    }
    return Number(text);
  };
  const fam = v6 ? "IPv6" : "IPv4";
  return {
    header: {
      version: 1,
      command: "PROXY",
      family: v6 ? "inet6" : "inet",
      protocol: "stream",
      source: { hostname: src, port: port(srcPort, "source"), family: fam },
      destination: { hostname: dst, port: port(dstPort, "destination"), family: fam },
      tlvs: [],
    },
    length,
  };
}

const FAMILIES = ["unspec", "inet", "inet6", "unix"] as const;
const PROTOCOLS = ["unspec", "stream", "dgram"] as const;
const ADDRESS_BYTES = { unspec: 0, inet: 12, inet6: 36, unix: 216 };

function parseV2(bytes: Uint8Array): { header: ProxyHeader; length: number } | undefined {
  const verCmd = bytes[12];
  if (verCmd >> 4 !== 2) fail(`PROXY v2 version must be 2, got ${verCmd >> 4}`);
  const cmd = verCmd & 0x0f;
  if (cmd > 1) fail(`PROXY v2 command must be LOCAL (0) or PROXY (1), got ${cmd}`);
  const famByte = bytes[13];
  const family = FAMILIES[famByte >> 4];
  const protocol = PROTOCOLS[famByte & 0x0f];
  if (family === undefined) fail(`PROXY v2 address family must be 0 to 3, got ${famByte >> 4}`);
  if (protocol === undefined) fail(`PROXY v2 transport protocol must be 0 to 2, got ${famByte & 0x0f}`);
  const bodyLength = (bytes[14] << 8) | bytes[15];
  const length = 16 + bodyLength;
  const command = cmd === 0 ? "LOCAL" : "PROXY";
  const addressBytes = ADDRESS_BYTES[family];
  if (command === "PROXY" && bodyLength < addressBytes) {
    fail(`PROXY v2 ${family} header needs ${addressBytes} address bytes, its length says ${bodyLength}`);
  }
  if (bytes.byteLength < length) return undefined;
  const header: ProxyHeader = { version: 2, command, family, protocol, tlvs: [] };
  const view = new DataView(bytes.buffer, bytes.byteOffset, length);
  if (command === "PROXY") {
    if (family === "inet" || family === "inet6") {
      const v6 = family === "inet6";
      const size = v6 ? 16 : 4;
      const fam = v6 ? "IPv6" : "IPv4";
      const format = v6 ? formatIpv6 : formatIpv4;
      header.source = {
        hostname: format(bytes.subarray(16, 16 + size)),
        port: view.getUint16(16 + 2 * size),
        family: fam,
      };
      header.destination = {
        hostname: format(bytes.subarray(16 + size, 16 + 2 * size)),
        port: view.getUint16(18 + 2 * size),
        family: fam,
      };
    } else if (family === "unix") {
      header.unix = { source: cString(bytes.subarray(16, 124)), destination: cString(bytes.subarray(124, 232)) };
    }
  }
  // LOCAL and unspec headers may still carry an address block; the TLVs start after it.
  const tlvStart = 16 + Math.min(addressBytes, bodyLength);
  header.tlvs = parseTlvs(bytes.subarray(tlvStart, length), "PROXY v2");
  let crcAt = -1;
  for (let i = 0, at = tlvStart; i < header.tlvs.length; i++) {
    const tlv = header.tlvs[i];
    const text = () => new TextDecoder("utf-8", { fatal: false }).decode(tlv.value);
    switch (tlv.type) {
      case 0x01:
        header.alpn = text();
        break;
      case 0x02:
        header.authority = text();
        break;
      case 0x03:
        if (tlv.value.byteLength !== 4) fail(`PROXY v2 CRC32C TLV must be 4 bytes, got ${tlv.value.byteLength}`);
        header.crc32c = new DataView(tlv.value.buffer, tlv.value.byteOffset, 4).getUint32(0);
        crcAt = at + 3;
        break;
      case 0x05:
        if (tlv.value.byteLength > 128) fail(`PROXY v2 unique id is at most 128 bytes, got ${tlv.value.byteLength}`);
        header.uniqueId = tlv.value;
        break;
      case 0x20:
        header.ssl = parseSsl(tlv.value);
        break;
      case 0x30:
        header.netns = text();
        break;
    }
    at += 3 + tlv.value.byteLength;
  }
  if (crcAt >= 0) {
    const copy = bytes.slice(0, length);
    copy.fill(0, crcAt, crcAt + 4);
    const actual = crc32c(copy);
    if (actual !== header.crc32c) {
      fail(`PROXY v2 CRC32C mismatch: the header says 0x${hex32(header.crc32c!)}, its bytes give 0x${hex32(actual)}`);
    }
  }
  return { header, length };
}

function hex32(n: number): string {
  return n.toString(16).padStart(8, "0");
}

function parseTlvs(bytes: Uint8Array, where: string): ProxyTlv[] {
  const tlvs: ProxyTlv[] = [];
  let at = 0;
  while (at < bytes.byteLength) {
    if (bytes.byteLength - at < 3) {
      fail(`${where} TLV at offset ${at} is truncated: ${bytes.byteLength - at} bytes left`);
    }
    const type = bytes[at];
    const size = (bytes[at + 1] << 8) | bytes[at + 2];
    if (at + 3 + size > bytes.byteLength) {
      fail(`${where} TLV 0x${type.toString(16)} says ${size} bytes, only ${bytes.byteLength - at - 3} are left`);
    }
    tlvs.push({ type, value: bytes.slice(at + 3, at + 3 + size) });
    at += 3 + size;
  }
  return tlvs;
}

function parseSsl(value: Uint8Array): ProxySsl {
  if (value.byteLength < 5) fail(`PROXY v2 SSL TLV needs at least 5 bytes, got ${value.byteLength}`);
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const ssl: ProxySsl = {
    client: value[0],
    verify: view.getUint32(1),
    tlvs: parseTlvs(value.subarray(5), "PROXY v2 SSL"),
  };
  const decoder = new TextDecoder();
  for (const sub of ssl.tlvs) {
    const text = decoder.decode(sub.value);
    if (sub.type === 0x21) ssl.version = text;
    else if (sub.type === 0x22) ssl.commonName = text;
    else if (sub.type === 0x23) ssl.cipher = text;
    else if (sub.type === 0x24) ssl.signatureAlgorithm = text;
    else if (sub.type === 0x25) ssl.keyAlgorithm = text;
  }
  return ssl;
}

function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/** @internal The four bytes of a canonical dotted quad (no leading zeros), or undefined. */
export function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(parts[i]) || Number(parts[i]) > 255) return undefined;
    out[i] = Number(parts[i]);
  }
  return out;
}

/** @internal The sixteen bytes of an IPv6 address in text form (`::` and a trailing dotted quad allowed), or undefined. */
export function parseIpv6(text: string): Uint8Array | undefined {
  if (text.length < 2 || text.length > 45) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (half: string): number[] | undefined => {
    if (half === "") return [];
    const out: number[] = [];
    const parts = half.split(":");
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (i === parts.length - 1 && part.includes(".")) {
        const v4 = parseIpv4(part);
        if (!v4) return undefined;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(part)) {
        out.push(parseInt(part, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...new Array(missing).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** Whether `text` is an IPv6 address as inet_ntop writes it (RFC 5952, or ::ffff:a.b.c.d). */
function isCanonicalIpv6(text: string): boolean {
  const bytes = parseIpv6(text);
  if (!bytes) return false;
  if (formatIpv6(bytes) === text) return true;
  const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return mapped && text === `::ffff:${formatIpv4(bytes.subarray(12))}`;
}

function formatIpv4(bytes: Uint8Array): string {
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

/** RFC 5952 text: lowercase, no leading zeros, the longest run of two or more zero groups as `::`. */
function formatIpv6(bytes: Uint8Array): string {
  const groups = Array.from({ length: 8 }, (_, i) => (bytes[2 * i] << 8) | bytes[2 * i + 1]);
  let bestAt = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestAt = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) => groups.slice(from, to).map((g) => g.toString(16)).join(":");
  if (bestAt < 0) return hex(0, 8);
  return `${hex(0, bestAt)}::${hex(bestAt + bestLength, 8)}`;
}

let crcTable: Uint32Array | undefined;

/**
 * CRC-32C (Castagnoli), as the PROXY v2 CRC32C TLV uses.
 *
 * @example
 * ```ts
 * crc32c(new TextEncoder().encode("123456789")); // 0xe3069283
 * ```
 */
export function crc32c(bytes: Uint8Array): number {
  const table = crcTable ??= (() => {
    const t = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
      t[n] = c >>> 0;
    }
    return t;
  })();
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.byteLength; i++) crc = table[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
