/**
 * Soak test of the framing decoders: the property-based fuzz of the test suite
 * (`tests/framing/_fuzz.ts`), with 1,000,000 random or mutated inputs per codec instead of
 * 100,000. For every input: only FramingErrors are thrown, the decoder's memory stays within
 * its limit, and the frames and error match for a random chunking, for one chunk and for an
 * independent model of the codec.
 *
 * Usage: `deno run -A scripts/bench/framing_soak.ts [runs] [codec...]`, `bun …`, or
 * `node npm/esm/scripts/bench/framing_soak.js …`. Exits with status 1 on a failure, printing
 * fast-check's seed and shrunk counterexample.
 *
 * @module
 */

import process from "node:process";
import { fuzz, FUZZ_CODECS, type FuzzCodec } from "../../tests/framing/_fuzz.ts";

const args = process.argv.slice(2);
const runs = Number(args.find((a) => /^\d+$/.test(a)) ?? 1_000_000);
const chosen = args.filter((a): a is FuzzCodec => (FUZZ_CODECS as readonly string[]).includes(a));
const codecs: readonly FuzzCodec[] = chosen.length > 0 ? chosen : FUZZ_CODECS;
/** Inputs per fast-check call; each call gets a fresh random seed. */
const BATCH = 100_000;

let failed = false;
const started = performance.now();
for (const codec of codecs) {
  const t0 = performance.now();
  try {
    for (let done = 0; done < runs; done += BATCH) {
      fuzz(codec, Math.min(BATCH, runs - done));
    }
    console.log(
      `${codec}: ${runs} inputs passed in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
  } catch (error) {
    failed = true;
    console.log(
      `${codec}: FAILED after ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    console.log(String(error));
  }
}
console.log(`total: ${((performance.now() - started) / 1000).toFixed(1)} s`);
process.exitCode = failed ? 1 : 0;
