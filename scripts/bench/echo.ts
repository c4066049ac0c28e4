/**
 * Echo benchmark: the adapter's echo (examples/raw_echo.ts) against the runtime's own API
 * echo (scripts/bench/raw_echo_server.ts), on each runtime, under the same load.
 *
 * The load client is written on the adapter. It opens `--connections` connections, keeps
 * `--in-flight` 4-byte-length frames of `--payload` bytes pipelined on each, checks every byte
 * of every echoed frame, and measures round-trip latency. The server's CPU time (user + system,
 * from /proc) per echoed message is the figure to compare; ratios are taken within one run.
 *
 * Usage: deno run -A scripts/bench/echo.ts [--runtime deno,bun,node] [--connections 100]
 *        [--in-flight 16] [--payload 64] [--seconds 5] [--rounds 2] [--json out.json]
 */
import { writeFileSync } from "node:fs";
import process from "node:process";
import { defaultTransport } from "../../src/runtime/detect.ts";
import type { Stream } from "../../src/runtime/types.ts";
import {
  argList,
  argNumber,
  commandFor,
  cpuSeconds,
  percentile,
  type Runtime,
  sleep,
  startServer,
} from "./bench_util.ts";

const runtimes = argList("runtime", "deno,bun,node") as Runtime[];
const connections = argNumber("connections", 100);
const inFlight = argNumber("in-flight", 16);
const payloadSize = argNumber("payload", 64);
const seconds = argNumber("seconds", 5);
const rounds = argNumber("rounds", 2);
const jsonPath = process.argv.includes("--json") ? process.argv[process.argv.indexOf("--json") + 1] : "";

interface Result {
  runtime: Runtime;
  server: "raw" | "adapter";
  msgsPerSec: number;
  p50us: number;
  p99us: number;
  cpuUsPerMsg: number;
  byteErrors: number;
  connections: number;
}

function expectedByte(conn: number, seq: number, i: number): number {
  return (conn * 31 + seq * 7 + i * 13) & 0xff;
}

function makeFrame(conn: number, seq: number): Uint8Array {
  const frame = new Uint8Array(4 + payloadSize);
  new DataView(frame.buffer).setUint32(0, payloadSize);
  for (let i = 0; i < payloadSize; i++) frame[4 + i] = expectedByte(conn, seq, i);
  return frame;
}

async function load(port: number, pid: number): Promise<Omit<Result, "runtime" | "server">> {
  const transport = await defaultTransport();
  const streams: Stream[] = [];
  let measuring = false;
  let running = true;
  let messages = 0;
  let byteErrors = 0;
  const latencies: number[] = [];
  const frameSize = 4 + payloadSize;

  const open = async (c: number) => {
    const stream = await transport.connect({ hostname: "127.0.0.1", port, timeoutMs: 10_000 });
    streams.push(stream);
    const sentAt = new Float64Array(inFlight);
    let sendSeq = 0;
    let recvSeq = 0;
    let pending = new Uint8Array(0);
    stream.setHandlers({
      onData(chunk) {
        let buf = chunk;
        if (pending.byteLength > 0) {
          buf = new Uint8Array(pending.byteLength + chunk.byteLength);
          buf.set(pending);
          buf.set(chunk, pending.byteLength);
        }
        let off = 0;
        const now = performance.now();
        while (buf.byteLength - off >= frameSize) {
          const len = (buf[off] << 24 | buf[off + 1] << 16 | buf[off + 2] << 8 | buf[off + 3]) >>> 0;
          if (len !== payloadSize) byteErrors++;
          for (let i = 0; i < payloadSize; i++) {
            if (buf[off + 4 + i] !== expectedByte(c, recvSeq, i)) {
              byteErrors++;
              break;
            }
          }
          if (measuring) {
            messages++;
            if ((recvSeq & 7) === 0) latencies.push(now - sentAt[recvSeq % inFlight]);
          }
          recvSeq++;
          off += frameSize;
          if (running) {
            sentAt[sendSeq % inFlight] = now;
            stream.write(makeFrame(c, sendSeq++));
          }
        }
        pending = off === buf.byteLength ? new Uint8Array(0) : buf.slice(off);
      },
      onClose(error) {
        if (error && running) {
          byteErrors++;
          console.error(`connection ${c} closed: ${error.code} ${error.message}`);
        }
      },
    });
    const now = performance.now();
    for (let i = 0; i < inFlight; i++) {
      sentAt[sendSeq % inFlight] = now;
      stream.write(makeFrame(c, sendSeq++));
    }
  };

  for (let c = 0; c < connections; c += 100) {
    await Promise.all(Array.from({ length: Math.min(100, connections - c) }, (_, i) => open(c + i)));
  }
  await sleep(1000); // warm-up
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  measuring = true;
  await sleep(seconds * 1000);
  measuring = false;
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(pid) - cpu0;
  const counted = messages;
  running = false;
  await sleep(200);
  for (const s of streams) s.reset();
  latencies.sort((a, b) => a - b);
  return {
    msgsPerSec: counted / elapsed,
    p50us: percentile(latencies, 50) * 1000,
    p99us: percentile(latencies, 99) * 1000,
    cpuUsPerMsg: (cpu / counted) * 1e6,
    byteErrors,
    connections,
  };
}

const results: Result[] = [];
for (let round = 0; round < rounds; round++) {
  for (const runtime of runtimes) {
    for (const server of ["raw", "adapter"] as const) {
      const file = server === "raw" ? "scripts/bench/raw_echo_server.ts" : "examples/raw_echo.ts";
      const srv = await startServer(commandFor(runtime, file, ["--port", "0"]));
      try {
        const r = await load(srv.port, srv.child.pid!);
        results.push({ runtime, server, ...r });
        console.error(
          `round ${round + 1} ${runtime} ${server}: ${Math.round(r.msgsPerSec)} msgs/s, ` +
            `${r.cpuUsPerMsg.toFixed(2)} us CPU/msg, p99 ${r.p99us.toFixed(0)} us, errors ${r.byteErrors}`,
        );
      } finally {
        await srv.stop();
      }
    }
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

console.log(
  `\nEcho: ${connections} connections, ${inFlight} frames in flight, ${payloadSize} B payloads, ` +
    `${seconds} s x ${rounds} rounds (median); server CPU from /proc\n`,
);
console.log("| runtime | server | msgs/s | p50 µs | p99 µs | server CPU µs/msg | CPU ratio adapter/raw | byte errors |");
console.log("|---|---|---:|---:|---:|---:|---:|---:|");
for (const runtime of runtimes) {
  const pick = (server: string) => results.filter((r) => r.runtime === runtime && r.server === server);
  const rawCpu = median(pick("raw").map((r) => r.cpuUsPerMsg));
  for (const server of ["raw", "adapter"]) {
    const rs = pick(server);
    const cpu = median(rs.map((r) => r.cpuUsPerMsg));
    console.log(
      `| ${runtime} | ${server} | ${Math.round(median(rs.map((r) => r.msgsPerSec)))} | ` +
        `${median(rs.map((r) => r.p50us)).toFixed(0)} | ${median(rs.map((r) => r.p99us)).toFixed(0)} | ` +
        `${cpu.toFixed(2)} | ${server === "adapter" ? (cpu / rawCpu).toFixed(3) + "x" : "1x"} | ` +
        `${rs.reduce((a, r) => a + r.byteErrors, 0)} |`,
    );
  }
}
if (jsonPath) writeFileSync(jsonPath, JSON.stringify(results, null, 2));
process.exit(results.some((r) => r.byteErrors > 0) ? 1 : 0);
