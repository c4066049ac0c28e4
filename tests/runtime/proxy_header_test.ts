/**
 * The PROXY header parser: valid v1 and v2 headers with every TLV, fed whole and byte by
 * byte, and malformed ones, each a NetError (PROXY_PROTOCOL) that names what is wrong.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { crc32c, parseProxyHeader, type ProxyVersion } from "../../src/runtime/proxy_header.ts";
import { NetError } from "../../src/runtime/errors.ts";
import { encodeProxyV2, type V2Fields } from "../helpers/proxy_header.ts";

const text = (s: string) => new TextEncoder().encode(s);

/** Parses `bytes` whole, then byte by byte; both must agree on the header and its length. */
function parseBothWays(bytes: Uint8Array, version: ProxyVersion = "any") {
  const whole = parseProxyHeader(bytes, version);
  assert.ok(whole, "a whole header parses");
  for (let n = 1; n < whole.length; n++) {
    assert.equal(parseProxyHeader(bytes.subarray(0, n), version), undefined, `a ${n}-byte prefix needs more`);
  }
  assert.deepEqual(parseProxyHeader(bytes.subarray(0, whole.length), version), whole);
  return whole;
}

/** The error for `bytes` fed whole, and the same error fed byte by byte. */
function rejectBothWays(bytes: Uint8Array, version: ProxyVersion = "any"): NetError {
  let whole: unknown;
  try {
    parseProxyHeader(bytes, version);
  } catch (error) {
    whole = error;
  }
  assert.ok(whole instanceof NetError && whole.code === "PROXY_PROTOCOL", `rejected: ${String(whole)}`);
  let thrown: unknown;
  for (let n = 1; n <= bytes.byteLength && thrown === undefined; n++) {
    try {
      const parsed = parseProxyHeader(bytes.subarray(0, n), version);
      assert.equal(parsed, undefined, `a ${n}-byte prefix of a bad header must not parse`);
    } catch (error) {
      thrown = error;
    }
  }
  assert.ok(thrown instanceof NetError && thrown.code === "PROXY_PROTOCOL", "rejected byte by byte too");
  return whole;
}

const inet: V2Fields = {
  command: 1,
  family: 1,
  protocol: 1,
  address: [192, 0, 2, 1, 198, 51, 100, 2, 0xc7, 0x38, 0x01, 0xbb],
};

describe("PROXY header parser", () => {
  test("v1 TCP4, TCP6 and UNKNOWN, and what follows is not taken", () => {
    const v4 = parseBothWays(text("PROXY TCP4 192.0.2.1 198.51.100.2 51000 443\r\nGET /"), "v1");
    assert.equal(v4.length, 45);
    assert.deepEqual(v4.header.source, { hostname: "192.0.2.1", port: 51000, family: "IPv4" });
    assert.deepEqual(v4.header.destination, { hostname: "198.51.100.2", port: 443, family: "IPv4" });
    assert.equal(v4.header.family, "inet");
    const v6 = parseBothWays(text("PROXY TCP6 2001:db8::1 ::ffff:192.0.2.9 0 65535\r\n"));
    assert.deepEqual(v6.header.source, { hostname: "2001:db8::1", port: 0, family: "IPv6" });
    assert.equal(v6.header.destination?.hostname, "::ffff:192.0.2.9");
    const unknown = parseBothWays(text("PROXY UNKNOWN ffff:f...f:ffff 1.2.3.4 x y\r\n"));
    assert.equal(unknown.header.family, "unspec");
    assert.equal(unknown.header.source, undefined);
    const longest =
      "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
    assert.equal(longest.length, 104);
    assert.equal(parseBothWays(text(longest)).length, 104);
  });

  test("v2 inet, inet6, unix and LOCAL, with every TLV and a good CRC32C", () => {
    const ssl = [
      0x01,
      0,
      0,
      0,
      0,
      0x21,
      0,
      7,
      ...text("TLSv1.3"),
      0x22,
      0,
      5,
      ...text("alice"),
      0x23,
      0,
      3,
      ...text("AES"),
    ];
    const bytes = encodeProxyV2({
      ...inet,
      tlvs: [
        [0x01, text("h2")],
        [0x02, text("chat.example")],
        [0x05, text("req-1")],
        [0x20, new Uint8Array(ssl)],
        [0x30, text("ns1")],
        [0xe0, new Uint8Array([1, 2, 3])],
        [0x04, new Uint8Array(5)],
      ],
      crc: true,
    });
    const { header, length } = parseBothWays(new Uint8Array([...bytes, ...text("payload")]), "v2");
    assert.equal(length, bytes.byteLength);
    assert.equal(header.version, 2);
    assert.equal(header.command, "PROXY");
    assert.deepEqual(header.source, { hostname: "192.0.2.1", port: 51000, family: "IPv4" });
    assert.deepEqual(header.destination, { hostname: "198.51.100.2", port: 443, family: "IPv4" });
    assert.equal(header.alpn, "h2");
    assert.equal(header.authority, "chat.example");
    assert.deepEqual(header.uniqueId, text("req-1"));
    assert.equal(header.netns, "ns1");
    assert.equal(header.ssl?.version, "TLSv1.3");
    assert.equal(header.ssl?.commonName, "alice");
    assert.equal(header.ssl?.cipher, "AES");
    assert.equal(header.ssl?.client, 1);
    assert.ok(header.crc32c !== undefined);
    assert.deepEqual(header.tlvs.find((t) => t.type === 0xe0)?.value, new Uint8Array([1, 2, 3]), "unknown types kept");

    const v6 = parseBothWays(
      encodeProxyV2({
        command: 1,
        family: 2,
        protocol: 1,
        address: [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1, ...new Array(15).fill(0), 1, 0x30, 0x39, 0, 80],
      }),
    );
    assert.deepEqual(v6.header.source, { hostname: "2001:db8::1", port: 12345, family: "IPv6" });
    assert.deepEqual(v6.header.destination, { hostname: "::1", port: 80, family: "IPv6" });

    const unix = new Uint8Array(216);
    unix.set(text("/run/client.sock"));
    unix.set(text("/run/server.sock"), 108);
    const parsedUnix = parseBothWays(encodeProxyV2({ command: 1, family: 3, protocol: 1, address: [...unix] }));
    assert.deepEqual(parsedUnix.header.unix, { source: "/run/client.sock", destination: "/run/server.sock" });

    const local = parseBothWays(encodeProxyV2({ command: 0, family: 0, protocol: 0, address: [] }));
    assert.equal(local.header.command, "LOCAL");
    assert.equal(local.length, 16);
  });

  test("CRC-32C matches the standard check value", () => {
    assert.equal(crc32c(text("123456789")), 0xe3069283);
  });

  const v1Bad: [string, string, RegExp][] = [
    ["wrong first word", "PROXI TCP4 1.2.3.4 5.6.7.8 1 2\r\n", /Expected a PROXY header/],
    ["lowercase proxy", "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", /Expected a PROXY header/],
    ["plain HTTP", "GET / HTTP/1.1\r\n", /Expected a PROXY header/],
    ["a lone LF", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", /lone LF/],
    ["a CR inside", "PROXY TCP4 1.2.3.4\r 5.6.7.8 1 2\r\n", /CR before its end/],
    ["a NUL inside", "PROXY TCP4 1.2.3.4\x005.6.7.8 1 2\r\n", /control byte/],
    ["a tab for a space", "PROXY TCP4\t1.2.3.4 5.6.7.8 1 2\r\n", /control byte/],
    ["two spaces", "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", /6 single-space-separated fields/],
    ["a trailing space", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", /6 single-space-separated fields/],
    ["a missing port", "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", /6 single-space-separated fields/],
    ["an extra field", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", /6 single-space-separated fields/],
    ["UDP4", "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", /TCP4, TCP6 or UNKNOWN, got "UDP4"/],
    ["lowercase tcp4", "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", /got "tcp4"/],
    ["leading zeros in IPv4", "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", /not a canonical IPv4 address: "01.2.3.4"/],
    ["an IPv4 octet of 256", "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", /not a canonical IPv4/],
    ["three octets", "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", /not a canonical IPv4/],
    ["IPv6 under TCP4", "PROXY TCP4 ::1 5.6.7.8 1 2\r\n", /not a canonical IPv4/],
    ["IPv4 under TCP6", "PROXY TCP6 1.2.3.4 ::1 1 2\r\n", /not a canonical IPv6 address: "1.2.3.4"/],
    ["IPv6 leading zeros", "PROXY TCP6 2001:0db8::1 ::1 1 2\r\n", /not a canonical IPv6/],
    ["IPv6 uppercase", "PROXY TCP6 2001:DB8::1 ::1 1 2\r\n", /not a canonical IPv6/],
    ["IPv6 two ::", "PROXY TCP6 1::2::3 ::1 1 2\r\n", /not a canonical IPv6/],
    ["IPv6 uncompressed zeros", "PROXY TCP6 2001:db8:0:0:0:0:0:1 ::1 1 2\r\n", /not a canonical IPv6/],
    ["a port of 65536", "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", /0 to 65535 without leading zeros, got "65536"/],
    ["a port with a leading zero", "PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n", /got "080"/],
    ["a negative port", "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", /got "-1"/],
    ["a port with a sign", "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", /got "\+1"/],
    ["an empty port", "PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n", /got ""/],
    ["a line of 108 bytes", "PROXY UNKNOWN " + "x".repeat(92) + "\r\n", /no CRLF within 107 bytes/],
    ["no CRLF at all", "PROXY TCP4 " + "1".repeat(120), /no CRLF within 107 bytes/],
  ];
  for (const [what, line, message] of v1Bad) {
    test(`v1 rejects ${what}`, () => {
      assert.match(rejectBothWays(text(line)).message, message);
    });
  }

  const v2Bad: [string, () => Uint8Array, RegExp][] = [
    ["a wrong signature byte", () => {
      const b = encodeProxyV2(inet);
      b[7] = 0x50;
      return b;
    }, /Expected a PROXY header/],
    ["version 1 in a v2 header", () => encodeProxyV2({ ...inet, versionNibble: 1 }), /version must be 2, got 1/],
    ["version 3", () => encodeProxyV2({ ...inet, versionNibble: 3 }), /version must be 2, got 3/],
    ["command 2", () => encodeProxyV2({ ...inet, command: 2 }), /command must be LOCAL \(0\) or PROXY \(1\), got 2/],
    ["command 15", () => encodeProxyV2({ ...inet, command: 15 }), /got 15/],
    ["family 4", () => encodeProxyV2({ ...inet, family: 4 }), /address family must be 0 to 3, got 4/],
    ["protocol 3", () => encodeProxyV2({ ...inet, protocol: 3 }), /transport protocol must be 0 to 2, got 3/],
    [
      "an inet length below 12",
      () => encodeProxyV2({ ...inet, address: inet.address.slice(0, 8) }),
      /needs 12 address bytes, its length says 8/,
    ],
    [
      "an inet6 length below 36",
      () => encodeProxyV2({ ...inet, family: 2 }),
      /needs 36 address bytes, its length says 12/,
    ],
    ["a unix length below 216", () => encodeProxyV2({ ...inet, family: 3 }), /needs 216 address bytes/],
    [
      "a TLV header cut short",
      () => encodeProxyV2({ ...inet, raw: [0x01, 0x00] }),
      /TLV at offset 0 is truncated: 2 bytes left/,
    ],
    [
      "a TLV longer than the header",
      () => encodeProxyV2({ ...inet, raw: [0x02, 0x00, 0x09, 0x61] }),
      /says 9 bytes, only 1 are left/,
    ],
    ["a CRC mismatch", () => {
      const b = encodeProxyV2({ ...inet, crc: true });
      b[20] ^= 0xff;
      return b;
    }, /CRC32C mismatch/],
    [
      "a CRC TLV of 3 bytes",
      () => encodeProxyV2({ ...inet, tlvs: [[0x03, new Uint8Array(3)]] }),
      /CRC32C TLV must be 4 bytes, got 3/,
    ],
    [
      "a unique id of 129 bytes",
      () => encodeProxyV2({ ...inet, tlvs: [[0x05, new Uint8Array(129)]] }),
      /at most 128 bytes, got 129/,
    ],
    [
      "an SSL TLV of 4 bytes",
      () => encodeProxyV2({ ...inet, tlvs: [[0x20, new Uint8Array(4)]] }),
      /SSL TLV needs at least 5 bytes, got 4/,
    ],
    [
      "a truncated SSL sub-TLV",
      () => encodeProxyV2({ ...inet, tlvs: [[0x20, new Uint8Array([1, 0, 0, 0, 0, 0x21, 0, 9, 0x54])]] }),
      /SSL TLV 0x21 says 9 bytes/,
    ],
  ];
  for (const [what, make, message] of v2Bad) {
    test(`v2 rejects ${what}`, () => {
      assert.match(rejectBothWays(make()).message, message);
    });
  }

  test("a receiver of one version rejects the other at once", () => {
    assert.match(rejectBothWays(encodeProxyV2(inet), "v1").message, /Expected a PROXY v1 line/);
    assert.match(rejectBothWays(text("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), "v2").message, /the PROXY v2 signature/);
    assert.match(rejectBothWays(text("\x16\x03\x01\x02\x00"), "any").message, /got "\\x16\\x03\\x01\\x02\\x00"/);
  });
});
