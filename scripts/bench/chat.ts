/**
 * Memory per connected chat client: `sockmodels serve chat` (one process, the in-process
 * rooms) with `--clients` clients in rooms of `--room-size`, each of which joined its room
 * and sent one line that its whole room received. Reports the server's resident memory
 * growth per client, once it has settled, on each runtime; every client must have received
 * its own line, and none may have been disconnected.
 *
 * Usage: deno run -A scripts/bench/chat.ts [--runtime deno,bun,node] [--clients 10000]
 *        [--room-size 50]
 */
import process from "node:process";
import { defaultTransport } from "../../src/runtime/detect.ts";
import type { Stream } from "../../src/runtime/types.ts";
import { argList, argNumber, commandFor, type Runtime, settledRss, sleep, startServer } from "./bench_util.ts";

const runtimes = argList("runtime", "deno,bun,node") as Runtime[];
const clients = argNumber("clients", 10_000);
const roomSize = argNumber("room-size", 50);

const transport = await defaultTransport();
const encoder = new TextEncoder();
const rows: { runtime: Runtime; kibPerClient: number; received: number; dropped: number }[] = [];

for (const runtime of runtimes) {
  const server = await startServer(
    commandFor(runtime, "src/cli/main.ts", [
      "serve",
      "chat",
      "--port",
      "0",
      "--quiet",
      "--idle-timeout",
      "0",
      "--max-connections",
      String(clients + 100),
    ]),
  );
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

console.log(
  `\nChat: ${clients} clients in rooms of ${roomSize}, each joined its room and sent one line ` +
    `(server RSS growth / clients, once settled)\n`,
);
console.log("| runtime | KiB per chat client | bytes received by clients | disconnected |");
console.log("|---|---:|---:|---:|");
for (const r of rows) {
  console.log(`| ${r.runtime} | ${r.kibPerClient.toFixed(2)} | ${r.received} | ${r.dropped} |`);
}
process.exit(rows.every((r) => r.dropped === 0) ? 0 : 1);
