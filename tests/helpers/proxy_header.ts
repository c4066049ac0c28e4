/**
 * Builds PROXY v2 headers for tests, including wrong ones: any version nibble, command,
 * family and protocol, an address block of any size, TLVs, raw trailing bytes, and a CRC32C.
 */
import { crc32c } from "../../src/runtime/proxy_header.ts";

/** The fields of a v2 header to build. */
export interface V2Fields {
  command: number;
  family: number;
  protocol: number;
  /** The address block, as sent. */
  address: number[];
  tlvs?: [number, Uint8Array][];
  /** Bytes after the TLVs, as they are. */
  raw?: number[];
  /** Adds a CRC32C TLV last, with the right checksum. */
  crc?: boolean;
  /** Default 2. */
  versionNibble?: number;
}

const SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

/** The bytes of a v2 header with `fields`. */
export function encodeProxyV2(fields: V2Fields): Uint8Array {
  const body: number[] = [...fields.address];
  for (const [type, value] of fields.tlvs ?? []) {
    body.push(type, value.byteLength >> 8, value.byteLength & 0xff, ...value);
  }
  body.push(...(fields.raw ?? []));
  let crcAt = -1;
  if (fields.crc) {
    crcAt = 16 + body.length + 3;
    body.push(0x03, 0, 4, 0, 0, 0, 0);
  }
  const bytes = new Uint8Array([
    ...SIGNATURE,
    ((fields.versionNibble ?? 2) << 4) | fields.command,
    (fields.family << 4) | fields.protocol,
    body.length >> 8,
    body.length & 0xff,
    ...body,
  ]);
  if (crcAt >= 0) new DataView(bytes.buffer).setUint32(crcAt, crc32c(bytes));
  return bytes;
}
