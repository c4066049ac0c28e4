/**
 * The load client of the echo benchmarks: `runLoad` in src/cli/load_client.ts, which the
 * `sockmodels bench models` command uses too. It opens `connections` connections, keeps
 * `inFlight` 4-byte-length frames of `payloadSize` bytes pipelined on each, checks every byte
 * of every echoed frame, and measures round-trip latency and the server process's CPU time
 * per echoed message.
 */
export { type LoadOptions, type LoadResult, runLoad } from "../../src/cli/load_client.ts";
