import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { lengthPrefixed } from "../../src/framing/length_prefixed.ts";
import { startPollHost } from "../../src/hosts/poll.ts";
import { defaultTransport } from "../../src/runtime/detect.ts";
import { concat, observe, sleep, until } from "../helpers/net.ts";

describe("poll host READ_LEN", () => {
  for (const byteOrder of ["be", "le"] as const) {
    for (const lengthFieldLength of [1, 2, 3, 4] as const) {
      test(`a ${lengthFieldLength}-byte ${byteOrder} length field that arrives a byte at a time`, async () => {
        const codec = lengthPrefixed({ lengthFieldLength, byteOrder });
        const lengths: number[] = [];
        const host = await startPollHost({
          port: 0,
          codec,
          app: {
            onFrame(peer, frame) {
              lengths.push(frame.byteLength);
              peer.send(frame);
            },
          },
        });
        const transport = await defaultTransport();
        const stream = await transport.connect({ hostname: "127.0.0.1", port: host.addr.port });
        const seen = observe(stream);
        try {
          // 0x0102 and 0x0201 tell the byte orders apart; 1-byte fields take the low byte.
          const sizes = [lengthFieldLength === 1 ? 0x02 : 0x0102, 0, 5];
          const payloads = sizes.map((size) => Uint8Array.from({ length: size }, (_, i) => i % 251));
          const wire = concat(payloads.map((p) => codec.encode(p)));
          for (let i = 0; i < wire.byteLength; i++) {
            stream.write(wire.subarray(i, i + 1));
            if (i < 2 * lengthFieldLength) await sleep(2);
          }
          await until(() => seen.bytes >= wire.byteLength, "the echo", 5000);
          assert.deepEqual(lengths, sizes);
          assert.deepEqual(concat(seen.chunks), wire);
        } finally {
          await stream.close();
          await host.close();
        }
      });
    }
  }
});
