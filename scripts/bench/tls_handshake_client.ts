/**
 * The client of the handshake part of scripts/bench/tls.ts: full TLS handshakes against an
 * lp4 echo on `--port` of 127.0.0.1, a fresh connection each (connect, handshake, one 1-byte
 * frame and its echo, so that the server has finished its side too, then reset and wait for
 * the close), `--concurrency` at a time, for `--ms` milliseconds. Prints one JSON line:
 * `{"done": N, "errors": N, "seconds": S}`.
 *
 * It runs on Node, whose TLS client offers no session to resume unless given one and frees a
 * connection's descriptor when it closes; a Deno client frees it only later, in the
 * background, which at thousands of handshakes a second runs out of descriptors.
 *
 * Usage: node npm/esm/scripts/bench/tls_handshake_client.js --port PORT --ca FILE [--ms 3000]
 *        [--concurrency 16]
 */
import { readFileSync } from "node:fs";
import process from "node:process";
import { parseArgs } from "node:util";
import { defaultTransport } from "../../src/runtime/detect.ts";

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    ca: { type: "string" },
    ms: { type: "string", default: "3000" },
    concurrency: { type: "string", default: "16" },
  },
});
const port = Number(values.port);
const ms = Number(values.ms);
const concurrency = Number(values.concurrency);
if (!Number.isInteger(port) || port <= 0 || values.ca === undefined) {
  console.error("usage: tls_handshake_client --port PORT --ca FILE [--ms 3000] [--concurrency 16]");
  process.exit(2);
}
const tls = { ca: readFileSync(values.ca, "utf8") };
/** One lp4 frame of one byte. */
const FRAME = new Uint8Array([0, 0, 0, 1, 42]);
const transport = await defaultTransport();
const started = performance.now();
const until = started + ms;
let done = 0;
let errors = 0;
await Promise.all(Array.from({ length: concurrency }, async () => {
  while (performance.now() < until) {
    try {
      const stream = await transport.connect({ hostname: "127.0.0.1", port, timeoutMs: 10_000, tls });
      let echoed!: () => void;
      const echo = new Promise<void>((resolve) => (echoed = resolve));
      let received = 0;
      const closed = new Promise<void>((resolve) =>
        stream.setHandlers({
          onData: (chunk) => {
            received += chunk.byteLength;
            if (received >= FRAME.byteLength) echoed();
          },
          onClose: () => {
            echoed();
            resolve();
          },
        })
      );
      stream.write(FRAME);
      await echo;
      stream.reset();
      await closed;
      if (received >= FRAME.byteLength) done++;
      else errors++;
    } catch {
      errors++;
    }
  }
}));
console.log(JSON.stringify({ done, errors, seconds: (performance.now() - started) / 1000 }));
