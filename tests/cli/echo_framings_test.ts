/**
 * The echo servers behind `sockmodels serve echo` speak every framing of the command line,
 * on every model: raw and lp4 have the conformance suite (tests/models/); here varint and
 * lines, over real sockets, with frames split across writes.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { echoCodec, type EchoFraming, startEcho as startModelEcho } from "../../src/apps/echo.ts";
import { encodeFrames as framedBytes } from "../../src/framing/write_frame.ts";
import { HOST_MODELS as ECHO_MODELS } from "../../src/hosts/mod.ts";
import { defaultTransport } from "../../src/runtime/detect.ts";
import { concat, observe, randomBytes, sleep, within } from "../helpers/net.ts";

for (const framing of ["varint", "lines"] as EchoFraming[]) {
  describe(`serve echo --framing ${framing}`, () => {
    for (const model of ECHO_MODELS) {
      test(`${model}: frames come back whole and in order`, async () => {
        const transport = await defaultTransport();
        const server = await startModelEcho(model, { transport, port: 0, framing });
        try {
          const codec = echoCodec(framing)!;
          const text = new TextEncoder();
          const frames = framing === "lines"
            ? Array.from({ length: 50 }, (_, i) => text.encode(`line ${i} ${"z".repeat(i * 37)}`))
            : [randomBytes(0), randomBytes(1), randomBytes(127), randomBytes(128), randomBytes(70_000), randomBytes(5)];
          const wire = framedBytes(codec, frames);
          const client = await transport.connect({
            hostname: "127.0.0.1",
            port: server.addr.port,
            allowHalfOpen: true,
          });
          const side = observe(client);
          for (let i = 0; i < wire.byteLength; i += 1000) {
            client.write(wire.subarray(i, Math.min(wire.byteLength, i + 1000)));
            if (i % 20_000 === 0) await sleep(1);
          }
          client.end();
          assert.equal(await within(side.closed, 20_000, "the echo"), undefined);
          assert.deepEqual(concat(side.chunks), wire);
        } finally {
          await within(server.close(), 10_000, "the server to close");
        }
      });
    }
  });
}
