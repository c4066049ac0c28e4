/**
 * The PROXY protocol wrapper's cost per connection: `sockmodels serve echo --framing lp4` with
 * and without `--proxy-protocol v1|v2`, under short connections at a fixed rate (connect, send
 * the header if any and one frame, read the echo, close). Reports the server's CPU per
 * connection and the ratio to no wrapper, in alternating rounds of one run.
 *
 * Usage: deno run -A scripts/bench/proxy.ts [--runtime deno,bun,node] [--rate 400]
 *        [--seconds 3] [--rounds 3]
 */
import process from "node:process";
import { lengthPrefixed } from "../../src/framing/mod.ts";
import { defaultTransport } from "../../src/runtime/detect.ts";
import {
  argList,
  argNumber,
  commandFor,
  cpuSeconds,
  median,
  receiveBytes,
  type Runtime,
  sleep,
  startServer,
} from "./bench_util.ts";

const runtimes = argList("runtime", "deno,bun,node") as Runtime[];
const rate = argNumber("rate", 400);
const seconds = argNumber("seconds", 3);
const rounds = argNumber("rounds", 3);

const transport = await defaultTransport();
const frame = lengthPrefixed({ lengthFieldLength: 4 }).encode(new Uint8Array(32));
const encoder = new TextEncoder();
const variants: Record<string, { args: string[]; header: (port: number) => Uint8Array | undefined }> = {
  "none": { args: [], header: () => undefined },
  "proxy v1": {
    args: ["--proxy-protocol", "v1"],
    header: (port) => encoder.encode(`PROXY TCP4 127.0.0.1 127.0.0.1 ${port} 9000\r\n`),
  },
  "proxy v2": {
    args: ["--proxy-protocol", "v2"],
    header: (port) =>
      new Uint8Array([
        ...[0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a],
        0x21,
        0x11,
        0,
        12,
        ...[127, 0, 0, 1, 127, 0, 0, 1, port >> 8, port & 0xff, 0x23, 0x28],
      ]),
  },
};

/** One short connection: the header, a frame, its echo, close. */
async function shortConnection(port: number, header: Uint8Array | undefined): Promise<void> {
  const stream = await transport.connect({ hostname: "127.0.0.1", port, timeoutMs: 10_000 });
  const echoed = receiveBytes(stream, frame.byteLength);
  stream.write(header ? new Uint8Array([...header, ...frame]) : frame);
  await echoed;
  const closed = new Promise<void>((resolve) => stream.setHandlers({ onClose: () => resolve() }));
  await stream.close();
  await closed;
}

const runs: { runtime: Runtime; variant: string; cpuUs: number; done: number; errors: number }[] = [];
for (let round = 0; round < rounds; round++) {
  for (const runtime of runtimes) {
    for (const [variant, { args, header }] of Object.entries(variants)) {
      const srv = await startServer(
        commandFor(runtime, "src/cli/main.ts", [
          "serve",
          "echo",
          "--framing",
          "lp4",
          "--port",
          "0",
          "--quiet",
          ...args,
        ]),
      );
      try {
        await sleep(300);
        const cpu0 = cpuSeconds(srv.child.pid!);
        let done = 0;
        let errors = 0;
        const pending: Promise<void>[] = [];
        const started = performance.now();
        for (let i = 0; performance.now() - started < seconds * 1000; i++) {
          const due = started + (i * 1000) / rate;
          const wait = due - performance.now();
          if (wait > 0) await sleep(wait);
          pending.push(
            shortConnection(srv.port, header(40000 + (i % 20000))).then(() => void done++, () => void errors++),
          );
        }
        await Promise.all(pending);
        const cpuUs = (cpuSeconds(srv.child.pid!) - cpu0) * 1e6 / Math.max(1, done);
        runs.push({ runtime, variant, cpuUs, done, errors });
        console.error(
          `round ${round + 1} ${runtime} ${variant}: ${
            cpuUs.toFixed(0)
          } us CPU per connection, ${done} done, ${errors} errors`,
        );
      } finally {
        await srv.stop();
      }
    }
  }
}

console.log(
  `\nShort connections at ${rate}/s for ${seconds} s x ${rounds} rounds (median): server CPU per connection\n`,
);
console.log("| runtime | wrapper | connections | server CPU µs/connection | vs none | errors |");
console.log("|---|---|---:|---:|---:|---:|");
let failed = false;
for (const runtime of runtimes) {
  const of = (variant: string) => runs.filter((r) => r.runtime === runtime && r.variant === variant);
  const base = median(of("none").map((r) => r.cpuUs));
  for (const variant of Object.keys(variants)) {
    const rs = of(variant);
    const cpuUs = median(rs.map((r) => r.cpuUs));
    const errors = rs.reduce((n, r) => n + r.errors, 0);
    if (errors > 0) failed = true;
    console.log(
      `| ${runtime} | ${variant} | ${median(rs.map((r) => r.done))} | ${cpuUs.toFixed(0)} | ${
        (cpuUs / base).toFixed(3)
      }x | ${errors} |`,
    );
  }
}
process.exit(failed ? 1 : 0);
