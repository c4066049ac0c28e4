/**
 * Memory per idle connection: the server's resident memory before and after `--connections`
 * idle connections (10,000 by default), for the adapter echo (examples/raw_echo.ts) and the
 * runtime's own API echo (scripts/bench/raw_echo_server.ts), on each runtime.
 *
 * `--servers hosts` adds the lp4 echo on the host of every I/O model (`src/hosts`), started
 * directly as the engine is (scripts/bench/host_echo_server.ts), labelled `host:MODEL`
 * (`--servers host:iocp` picks one). `--servers cli` adds the same through
 * `sockmodels serve echo --framing lp4 --model MODEL`, labelled `cli:MODEL`, which adds the
 * connection guard and the traffic counter. All have the same targets as the engine.
 *
 * Two modes: `idle`, connections that never send anything, and `exchange`, connections that
 * each send one 4-byte-length frame of 32 bytes, read its echo, and then stay idle (what a
 * connection that has talked keeps). The default runs both.
 *
 * Each figure is the median of `--rounds` (3) runs, the servers taking turns in each round.
 *
 * Usage: deno run -A scripts/bench/idle.ts [--runtime deno,bun,node] [--connections 10000]
 *        [--servers raw,adapter,engine,hosts,cli] [--modes idle,exchange] [--rounds 3]
 */
import process from "node:process";
import { defaultTransport } from "../../src/runtime/detect.ts";
import type { Stream } from "../../src/runtime/types.ts";
import { lengthPrefixed } from "../../src/framing/mod.ts";
import { HOST_MODELS } from "../../src/hosts/mod.ts";
import {
  argList,
  argNumber,
  commandFor,
  median,
  receiveBytes,
  rssBytes,
  type Runtime,
  settledRss,
  sleep,
  startServer,
} from "./bench_util.ts";

const runtimes = argList("runtime", "deno,bun,node") as Runtime[];
const count = argNumber("connections", 10_000);
const rounds = argNumber("rounds", 3);
const targetsKiB: Record<Runtime, number> = { bun: 4, node: 8, deno: 12 };

const modes = argList("modes", "idle,exchange") as ("idle" | "exchange")[];
const frame = lengthPrefixed({ lengthFieldLength: 4 }).encode(new Uint8Array(32).fill(7));

interface Row {
  runtime: Runtime;
  server: string;
  mode: "idle" | "exchange";
  /** The median of the rounds. */
  kibPerConn: number;
  runs: number[];
}

const transport = await defaultTransport();
const rows: Row[] = [];
const allVariants: [string, string, string[]][] = [
  ["raw (64 KiB read buffer on Deno)", "scripts/bench/raw_echo_server.ts", ["--read-buffer", "65536"]],
  ["adapter", "examples/raw_echo.ts", []],
  ["engine", "examples/echo_engine.ts", ["--framing", "lp4"]],
];
const wanted = argList("servers", "raw,adapter,engine");
const variants = allVariants.filter(([label]) => wanted.some((w) => label.startsWith(w)));
for (const model of HOST_MODELS) {
  // A host started directly, as the engine row is; and the same host under the CLI, with the
  // connection guard and the traffic counter that `serve` adds.
  if (wanted.includes("hosts") || wanted.includes(`host:${model}`)) {
    variants.push([`host:${model}`, "scripts/bench/host_echo_server.ts", ["--framing", "lp4", "--model", model]]);
  }
  if (wanted.includes("cli") || wanted.includes(`cli:${model}`)) {
    variants.push([`cli:${model}`, "src/cli/main.ts", [
      "--framing",
      "lp4",
      "--model",
      model,
      "--idle-timeout",
      "0",
      "--max-connections",
      String(count + 100),
      "--quiet",
    ]]);
  }
}
/** Opens `count` connections to the server of `file`, and returns the RSS it gained per connection. */
async function measure(runtime: Runtime, mode: "idle" | "exchange", file: string, extra: string[]): Promise<number> {
  const args = runtime !== "deno" && file.includes("raw_echo_server") ? [] : extra;
  const command = file.endsWith("cli/main.ts") ? ["serve", "echo", "--port", "0", ...args] : ["--port", "0", ...args];
  const srv = await startServer(commandFor(runtime, file, command));
  const streams: Stream[] = [];
  try {
    await sleep(1000);
    const before = rssBytes(srv.child.pid!);
    for (let i = 0; i < count; i += 250) {
      const batch = await Promise.all(
        Array.from(
          { length: Math.min(250, count - i) },
          () => transport.connect({ hostname: "127.0.0.1", port: srv.port, timeoutMs: 20_000 }),
        ),
      );
      if (mode === "exchange") {
        await Promise.all(batch.map((s) => {
          const echoed = receiveBytes(s, frame.byteLength);
          s.write(frame);
          return echoed.then(() => s.setHandlers({}));
        }));
      }
      for (const s of batch) {
        if (mode === "idle") s.setHandlers({});
        streams.push(s);
      }
    }
    // Let the server accept everything and settle.
    const after = await settledRss(srv.child.pid!);
    return (after - before) / count / 1024;
  } finally {
    for (const s of streams) s.reset();
    await srv.stop();
    await sleep(500);
  }
}

for (const runtime of runtimes) {
  for (const mode of modes) {
    // The servers take turns, round after round, so that a slow patch of the machine does not
    // fall on one of them only.
    const figures = new Map<string, number[]>(variants.map(([label]) => [label, []]));
    for (let round = 1; round <= rounds; round++) {
      for (const [label, file, extra] of variants) {
        const kib = await measure(runtime, mode, file, extra);
        figures.get(label)!.push(kib);
        console.error(`${runtime} ${label} ${mode}, round ${round}: ${kib.toFixed(2)} KiB per connection`);
      }
    }
    for (const [label] of variants) {
      const runs = figures.get(label)!;
      rows.push({
        runtime,
        server: label.startsWith("raw") ? (runtime === "deno" ? label : "raw") : label,
        mode,
        kibPerConn: median(runs),
        runs,
      });
    }
  }
}

console.log(
  `\nMemory per connection, ${count} connections (server RSS delta / connections, the median of ` +
    `${rounds} rounds); idle: never sent anything; exchange: sent one 36-byte frame and read its echo, ` +
    "then idle\n",
);
console.log("| runtime | server | mode | KiB per connection | rounds | target |");
console.log("|---|---|---|---:|---|---:|");
let ok = true;
for (const r of rows) {
  const target = r.server === "adapter" || r.server === "engine" || r.server.startsWith("host:") ||
      r.server.startsWith("cli:")
    ? targetsKiB[r.runtime]
    : undefined;
  if (target !== undefined && r.kibPerConn > target) ok = false;
  console.log(
    `| ${r.runtime} | ${r.server} | ${r.mode} | ${r.kibPerConn.toFixed(2)} | ${
      r.runs.map((k) => k.toFixed(2)).join(" · ")
    } | ${target !== undefined ? `≤ ${target}` : ""} |`,
  );
}
process.exit(ok ? 0 : 1);
