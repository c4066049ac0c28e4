/**
 * The chat under load, in two parts (`--mode memory,traffic`, both by default).
 *
 * **memory**: `sockmodels serve chat` (one process, the in-process rooms) with `--clients`
 * clients in rooms of `--room-size`, each of which joined its room and sent one line that its
 * whole room received. Reports the server's resident memory growth per client, once it has
 * settled, on each runtime; every client must have received its own line, and none may have
 * been disconnected.
 *
 * **traffic**: `--traffic-clients` clients (500) in `--rooms` rooms (10), each sending one
 * line a second for `--seconds` (20) after a warm-up, in three set-ups: one node with the
 * in-process bus, one node with the Redis bus, and two nodes with the Redis bus (the clients
 * split between them, every room on both). Each line carries its send time; the bench notes
 * when every member of its room received it. Reports end-to-end latency p50 and p99 (sender to
 * each receiver), lines delivered per second, and server CPU (and Redis's) per delivered line.
 * Every delivery must arrive.
 *
 * Usage: deno run -A scripts/bench/chat.ts [--mode memory,traffic] [--runtime deno,bun,node]
 *        [--clients 10000] [--room-size 50] [--traffic-clients 500] [--rooms 10] [--seconds 20]
 */
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
  type Server,
  settledRss,
  sleep,
  startServer,
} from "./bench_util.ts";
import { startRedis } from "../../tests/helpers/redis.ts";

const modes = argList("mode", "memory,traffic");
const runtimes = argList("runtime", "deno,bun,node") as Runtime[];
const clients = argNumber("clients", 10_000);
const roomSize = argNumber("room-size", 50);

const transport = await defaultTransport();
const encoder = new TextEncoder();
const rows: { runtime: Runtime; kibPerClient: number; received: number; dropped: number }[] = [];

/** `sockmodels serve chat` on an ephemeral port under `runtime`, with `extra` options. */
function startChat(runtime: Runtime, extra: string[]): Promise<Server> {
  return startServer(
    commandFor(runtime, "src/cli/main.ts", [
      "serve",
      "chat",
      "--port",
      "0",
      "--quiet",
      "--idle-timeout",
      "0",
      ...extra,
    ]),
  );
}

for (const runtime of modes.includes("memory") ? runtimes : []) {
  const server = await startChat(runtime, ["--max-connections", String(clients + 100)]);
  const streams: Stream[] = [];
  let heardOwnLine = 0;
  let dropped = 0;
  let received = 0;
  try {
    const before = await settledRss(server.child.pid!);
    for (let i = 0; i < clients; i += 250) {
      const batch = await Promise.all(
        Array.from(
          { length: Math.min(250, clients - i) },
          (_, k) =>
            transport.connect({ hostname: "127.0.0.1", port: server.port, timeoutMs: 20_000 }).then((s) => ({
              s,
              id: i + k,
            })),
        ),
      );
      for (const { s, id } of batch) {
        const own = `: hello ${id}\n`;
        const decoder = new TextDecoder();
        let tail = "";
        let heard = false;
        s.setHandlers({
          onData(chunk) {
            received += chunk.byteLength;
            if (heard) return;
            tail = (tail + decoder.decode(chunk, { stream: true })).slice(-4096);
            if (tail.includes(own)) {
              heard = true;
              heardOwnLine++;
            }
          },
          onClose: () => dropped++,
        });
        s.write(encoder.encode(`/join r${Math.floor(id / roomSize)}\nhello ${id}\n`));
        streams.push(s);
      }
    }
    const deadline = Date.now() + 60_000;
    while (heardOwnLine < clients && Date.now() < deadline) await sleep(100);
    const after = await settledRss(server.child.pid!);
    const kibPerClient = (after - before) / clients / 1024;
    rows.push({ runtime, kibPerClient, received, dropped });
    console.error(
      `${runtime}: ${kibPerClient.toFixed(2)} KiB per chat client; ${heardOwnLine}/${clients} heard their own line, ` +
        `${dropped} disconnected`,
    );
  } finally {
    for (const s of streams) s.reset();
    await server.stop();
    await sleep(500);
  }
}

if (rows.length > 0) {
  console.log(
    `\nChat: ${clients} clients in rooms of ${roomSize}, each joined its room and sent one line ` +
      `(server RSS growth / clients, once settled)\n`,
  );
  console.log("| runtime | KiB per chat client | bytes received by clients | disconnected |");
  console.log("|---|---:|---:|---:|");
  for (const r of rows) {
    console.log(`| ${r.runtime} | ${r.kibPerClient.toFixed(2)} | ${r.received} | ${r.dropped} |`);
  }
}

// ---- traffic ----

const trafficClients = argNumber("traffic-clients", 500);
const rooms = argNumber("rooms", 10);
const seconds = argNumber("seconds", 20);
const warmUpSeconds = 3;

interface TrafficRow {
  runtime: Runtime;
  setup: string;
  p50: number;
  p99: number;
  deliveredPerSecond: number;
  serverCpuUsPerLine: number;
  redisCpuUsPerLine: number | undefined;
  lost: number;
  disconnected: number;
}

/** One set-up: servers on `nodes` ports, clients spread over them, every room on every node. */
async function traffic(
  runtime: Runtime,
  setup: string,
  nodes: number,
  redisUrl: string | undefined,
  nickPrefix: string,
): Promise<TrafficRow> {
  const servers: Server[] = [];
  for (let i = 0; i < nodes; i++) {
    servers.push(await startChat(runtime, redisUrl ? ["--redis", redisUrl] : []));
  }
  const streams: Stream[] = [];
  let measuring = false;
  const latencies: number[] = [];
  let delivered = 0;
  let disconnected = 0;
  /** Deliveries still expected for each line sent while measuring, by its id. */
  const pending = new Map<string, number>();
  const roomOf = (client: number) => client % rooms;
  const membersOfRoom = Array.from(
    { length: rooms },
    (_, room) => Array.from({ length: trafficClients }, (_, c) => c).filter((c) => roomOf(c) === room).length,
  );
  try {
    const joined = new Set<number>();
    for (let i = 0; i < trafficClients; i += 100) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(100, trafficClients - i) }, (_, k) => {
          const id = i + k;
          return transport.connect({ hostname: "127.0.0.1", port: servers[id % nodes].port, timeoutMs: 20_000 })
            .then((s) => ({ s, id }));
        }),
      );
      for (const { s, id } of batch) {
        const decoder = new TextDecoder();
        let text = "";
        s.setHandlers({
          onData(chunk) {
            text += decoder.decode(chunk, { stream: true });
            let nl;
            while ((nl = text.indexOf("\n")) >= 0) {
              const line = text.slice(0, nl);
              text = text.slice(nl + 1);
              const at = line.indexOf(": t ");
              if (at < 0) {
                if (line.endsWith(` is now ${nickPrefix}${id}`)) joined.add(id);
                continue;
              }
              const [, key, sentAt] = line.slice(at + 2).split(" ");
              const left = pending.get(key);
              if (left === undefined) continue;
              latencies.push(performance.now() - Number(sentAt));
              delivered++;
              if (left === 1) pending.delete(key);
              else pending.set(key, left - 1);
            }
          },
          onClose: () => disconnected++,
        });
        // Names of a set-up of their own: those of a killed node stay claimed until they expire.
        s.write(encoder.encode(`/join r${roomOf(id)}\n/nick ${nickPrefix}${id}\n`));
        streams.push(s);
      }
    }
    const joinDeadline = Date.now() + 60_000;
    while (joined.size < trafficClients && Date.now() < joinDeadline) await sleep(100);
    if (joined.size < trafficClients) throw new Error(`only ${joined.size} of ${trafficClients} clients joined`);

    let sequence = 0;
    const send = (id: number) => {
      const key = `${id}.${++sequence}`;
      if (measuring) pending.set(key, membersOfRoom[roomOf(id)]);
      streams[id].write(encoder.encode(`t ${key} ${performance.now().toFixed(2)}\n`));
    };
    const timers = streams.map((_, id) =>
      setTimeout(() => {
        send(id);
        timers[id] = setInterval(() => send(id), 1000) as unknown as ReturnType<typeof setTimeout>;
      }, (id / trafficClients) * 1000)
    );
    await sleep(warmUpSeconds * 1000);
    const cpuBefore = servers.map((s) => cpuSeconds(s.child.pid!));
    const redisCpuBefore = redisPid === undefined ? 0 : cpuSeconds(redisPid);
    measuring = true;
    const startedAt = performance.now();
    await sleep(seconds * 1000);
    measuring = false;
    for (const timer of timers) clearInterval(timer);
    const elapsed = (performance.now() - startedAt) / 1000;
    const serverCpu = servers.reduce((sum, s, i) => sum + cpuSeconds(s.child.pid!) - cpuBefore[i], 0);
    const redisCpu = redisPid === undefined ? undefined : cpuSeconds(redisPid) - redisCpuBefore;
    // The last lines' deliveries.
    const drainDeadline = Date.now() + 10_000;
    while (pending.size > 0 && Date.now() < drainDeadline) await sleep(50);
    const lost = [...pending.values()].reduce((a, b) => a + b, 0);
    latencies.sort((a, b) => a - b);
    return {
      runtime,
      setup,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      deliveredPerSecond: delivered / elapsed,
      serverCpuUsPerLine: (serverCpu / delivered) * 1e6,
      redisCpuUsPerLine: redisCpu === undefined || !redisUrl ? undefined : (redisCpu / delivered) * 1e6,
      lost,
      disconnected,
    };
  } finally {
    for (const s of streams) s.reset();
    for (const server of servers) await server.stop();
    await sleep(300);
  }
}

let redisPid: number | undefined;
const trafficRows: TrafficRow[] = [];
if (modes.includes("traffic")) {
  const redis = await startRedis();
  redisPid = redis.pid;
  try {
    for (const runtime of runtimes) {
      for (
        const [setup, nodes, url] of [
          ["1 node, in-process bus", 1, undefined],
          ["1 node, Redis bus", 1, redis.url],
          ["2 nodes, Redis bus", 2, redis.url],
        ] as const
      ) {
        const row = await traffic(runtime, setup, nodes, url, `n${trafficRows.length}c`);
        console.error(
          `${runtime}, ${setup}: p50 ${row.p50.toFixed(2)} ms, p99 ${row.p99.toFixed(2)} ms, ` +
            `${row.deliveredPerSecond.toFixed(0)} lines/s, ${
              row.serverCpuUsPerLine.toFixed(2)
            } µs server CPU per line, ` +
            `${row.lost} lost`,
        );
        trafficRows.push(row);
      }
    }
  } finally {
    await redis.stop();
  }
  console.log(
    `\nChat traffic: ${trafficClients} clients in ${rooms} rooms, 1 line per client per second, ` +
      `${seconds} s measured after ${warmUpSeconds} s of warm-up\n`,
  );
  console.log(
    "| runtime | set-up | latency p50 ms | p99 ms | lines delivered/s | server CPU µs per delivered line | Redis CPU µs per line | lost |",
  );
  console.log("|---|---|---:|---:|---:|---:|---:|---:|");
  for (const r of trafficRows) {
    console.log(
      `| ${r.runtime} | ${r.setup} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${
        r.deliveredPerSecond.toFixed(0)
      } | ` +
        `${r.serverCpuUsPerLine.toFixed(2)} | ${r.redisCpuUsPerLine?.toFixed(2) ?? "-"} | ${r.lost} |`,
    );
  }
}
const failed = rows.some((r) => r.dropped > 0) || trafficRows.some((r) => r.lost > 0 || r.disconnected > 0);
process.exit(failed ? 1 : 0);
