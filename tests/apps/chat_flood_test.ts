/**
 * The chat under a flood, on every model, over real sockets: a sender that never stops is
 * slowed to the pace its room reads, no reader that keeps reading is cut off, and one that
 * stopped reading is. The server runs in a process of its own (`sockmodels serve chat`), so
 * that its pace is its own and not this busy test process's.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { HOST_MODELS } from "../../src/hosts/mod.ts";
import { sleep, within } from "../helpers/net.ts";
import { LineClient, spawnCli, waitFor } from "../cli/_helpers.ts";

async function withChat(args: string[], body: (chat: { addr: { port: number } }) => Promise<void>): Promise<void> {
  const server = spawnCli(["serve", "chat", "--port", "0", "--quiet", ...args]);
  try {
    await waitFor(() => /listening on 127\.0\.0\.1:\d+/.test(server.result.out), "the listening line", 30_000);
    const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(server.result.out)![1]);
    await body({ addr: { port } });
  } finally {
    server.result.child.kill("SIGKILL");
    await within(server.exited, 10_000, "the server to exit");
  }
}

async function welcomed(port: number): Promise<LineClient> {
  const client = await LineClient.connect(port);
  await client.expect(/^\* Welcome, /, "the welcome");
  return client;
}

describe("chat under a flood, on every model", () => {
  for (const model of HOST_MODELS) {
    test(`${model} model: a sender that never stops is slowed: no reader is cut off, only one that stopped reading`, async () => {
      await withChat(["--model", model, "--high-water-mark", String(256 * 1024)], async (chat) => {
        const flooder = await welcomed(chat.addr.port);
        const readers = await Promise.all(Array.from({ length: 6 }, () => welcomed(chat.addr.port)));
        const stalled = await welcomed(chat.addr.port);
        stalled.stream.pause();
        const line = "f".repeat(200);
        const cut = /^\* (\w+) was disconnected: too slow to read/;
        const nick = (c: LineClient) => /^\* Welcome, (\w+)!/.exec(c.lines[0])![1];
        const cutNames = () => readers[0].lines.map((l) => cut.exec(l)?.[1]).filter(Boolean);
        // As fast as the socket takes it, until the client that stopped reading is cut off.
        // That takes its socket buffers and the high-water mark, several MB over loopback, so
        // the flood is not stopped early on a busy machine: only the cut ends it.
        const until = Date.now() + 60_000;
        let sent = 0;
        const flooderCut = () => cutNames().includes(nick(flooder));
        while (!cutNames().includes(nick(stalled)) && !flooderCut() && Date.now() < until) {
          while (flooder.stream.bufferedAmount < 256 * 1024) flooder.send(`${sent++} ${line}`);
          await sleep(1);
        }
        if (!flooderCut()) { for (let i = 0; i < 200; i++) flooder.send(`${sent++} ${line}`); }
        // Every reader gets the same lines, all of them once the flood ends, and none is cut
        // off; the flooder reads its own lines in this same busy process, so it may be the
        // one slow to read them, and it is not judged here (scripts/bench/attack.ts runs it in a
        // process of its own).
        const spoken = (c: LineClient) => c.lines.filter((l) => l.endsWith(line));
        const settled = () => readers.every((r) => spoken(r).length === spoken(readers[0]).length);
        await waitFor(
          () => settled() && (flooderCut() || spoken(readers[0]).length === sent) && cutNames().includes(nick(stalled)),
          "every reader to get every line, and the stalled client to be cut off",
          60_000,
        );
        await sleep(200);
        for (const r of readers) assert.deepEqual(spoken(r), spoken(readers[0]));
        assert.deepEqual(
          cutNames().filter((n) => n !== nick(stalled) && n !== nick(flooder)),
          [],
          `cut: ${cutNames().join(", ")}`,
        );
        for (const r of readers) assert.ok(!r.closed);
        for (const c of [flooder, ...readers, stalled]) c.close();
      });
    });
  }
});
