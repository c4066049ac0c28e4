import { describe, test } from "node:test";
import { fuzz, FUZZ_CODECS } from "./_fuzz.ts";

/** Inputs per codec: random or mutated streams, each decoded chunked, whole and by a model. */
const RUNS = 100_000;
/** Inputs per test, so that each test stays well within per-test time limits (Bun: 5 s). */
const BATCH = 20_000;

describe("fuzz: 100,000 random or mutated inputs per codec", () => {
  for (const codec of FUZZ_CODECS) {
    for (let done = 0; done < RUNS; done += BATCH) {
      const runs = Math.min(BATCH, RUNS - done);
      test(
        `${codec}, inputs ${done + 1}-${
          done + runs
        }: only FramingErrors, bounded memory, same result for any chunking and the model`,
        { timeout: 60_000 },
        () => fuzz(codec, runs),
      );
    }
  }
});
