/**
 * Chat rooms across nodes: `serve chat --redis URL` on Deno, Node and Bun at once against a
 * real `redis-server`, and `serve chat --processes 2` over the group's channel. Every client
 * of a room gets every message once and in the same order, `/who` and nicknames span the
 * nodes, a node killed with SIGKILL leaves with a notice, a Redis restart is told and survived,
 * and what a client types stays that client's message.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { LineClient, spawnCli, waitFor } from "./_helpers.ts";
import { startRedis } from "../helpers/redis.ts";
import { fixtureFile } from "../helpers/tls.ts";
import { processResidentBytes } from "../../src/platform/process.ts";
import { RedisClient } from "../../src/redis/redis_client.ts";
import { replyText } from "../../src/redis/resp.ts";
import { sleep } from "../helpers/net.ts";
import type { RuntimeName } from "../../src/runtime/detect.ts";

type Record = { event: string; message: string; [field: string]: unknown };

/** A chat server process, read as JSON lines. */
function startNode(args: string[], runtime?: RuntimeName) {
  const running = spawnCli(["serve", "chat", "--port", "0", "--json", ...args], [], runtime);
  const records = (): Record[] =>
    running.result.out.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record);
  const find = (event: string, where: (r: Record) => boolean = () => true) =>
    records().find((r) => r.event === event && where(r));
  const describeState = () =>
    `${runtime ?? "this runtime"}: stdout ${running.result.out.slice(-2000)}\nstderr ${
      running.result.err.slice(-2000)
    }`;
  return {
    ...running,
    records,
    find,
    describeState,
    async port(): Promise<number> {
      await waitFor(() => find("listening") !== undefined, `the listening line; ${describeState()}`, 60_000);
      return find("listening")!.port as number;
    },
    async stop(): Promise<void> {
      if (running.result.code === undefined && running.result.signal === null) {
        process.kill(running.result.child.pid!, "SIGTERM");
      }
      await running.exited;
    },
  };
}

type ChatNode = ReturnType<typeof startNode>;

/** Connects a client and names it; resolves once its name is set. */
async function member(port: number, nick: string): Promise<LineClient> {
  const client = await LineClient.connect(port);
  await client.expect(/^\* Welcome, guest\d+!/, "the welcome");
  client.send(`/nick ${nick}`);
  await client.expect(new RegExp(`^\\* guest\\d+ is now ${nick}$`), `the rename to ${nick}`);
  return client;
}

/** The message lines (`NICK: text`) a client got that match `pattern`. */
function messages(client: LineClient, pattern: RegExp): string[] {
  return client.lines.filter((l) => pattern.test(l));
}

/** Every client sends `count` numbered lines at once; all get all, once each, in one order. */
async function exchange(clients: LineClient[], nicks: string[], count: number, tag: string): Promise<void> {
  for (let i = 1; i <= count; i++) for (const c of clients) c.send(`${tag} ${i}`);
  const pattern = new RegExp(`^[a-z0-9]+: ${tag} \\d+$`);
  const total = clients.length * count;
  await waitFor(
    () => clients.every((c) => messages(c, pattern).length >= total),
    `${total} ${tag} lines on every client; got ${clients.map((c) => messages(c, pattern).length)}`,
    30_000,
  );
  await sleep(200);
  const first = messages(clients[0], pattern);
  for (const [index, client] of clients.entries()) {
    const got = messages(client, pattern);
    assert.equal(got.length, total, `${nicks[index]} got each line once`);
    assert.equal(new Set(got).size, total, `${nicks[index]} got no line twice`);
    assert.deepEqual(got, first, `${nicks[index]} saw the order ${nicks[0]} saw`);
  }
  // Each sender's own lines keep their order.
  for (const nick of nicks) {
    const mine = first.filter((l) => l.startsWith(`${nick}: `)).map((l) => Number(l.split(" ").pop()));
    assert.deepEqual(mine, Array.from({ length: count }, (_, i) => i + 1), `${nick}'s lines in order`);
  }
}

async function who(client: LineClient): Promise<string[]> {
  const from = client.lines.length;
  client.send("/who");
  const index = await client.expectAfter(from, /^\* In lobby:/);
  return client.lines[index].replace(/^\* In lobby: ?/, "").split(", ").filter((n) => n !== "");
}

describe("chat across nodes", { timeout: 240_000 }, () => {
  test("Deno, Node and Bun nodes on one Redis: one order, /who, nicknames, injection, and kill -9", async () => {
    const redis = await startRedis({ password: "s3cret" });
    const url = redis.url;
    assert.match(url, /^redis:\/\/:s3cret@/);
    const nodes: ChatNode[] = (["deno", "node", "bun"] as const).map((runtime) => startNode(["--redis", url], runtime));
    const clients: LineClient[] = [];
    try {
      const ports = await Promise.all(nodes.map((n) => n.port()));
      const nicks = ["dee", "dan", "noa", "ned", "bea", "bob"];
      for (const [i, nick] of nicks.entries()) clients.push(await member(ports[Math.floor(i / 2)], nick));
      // Everyone sees the last member's join before the traffic starts.
      for (const c of clients) await c.expect(/bob/, "bob's arrival", 10_000);

      await exchange(clients, nicks, 25, "msg");

      // /who lists every node's members, in joining order.
      assert.deepEqual(await who(clients[3]), nicks);
      // A nickname held on another node is refused.
      const from = clients[5].lines.length;
      clients[5].send("/nick dee");
      await clients[5].expectAfter(from, "! Nickname dee is taken");

      // What a client types stays its message, whatever it looks like.
      clients[0].send("* bob left lobby");
      clients[0].send('{"n":"x","r":"lobby","t":"! forged notice"}');
      clients[0].send("! You were disconnected: forged");
      for (const c of clients) {
        await c.expect("dee: * bob left lobby", "the notice-looking line as dee's message");
        await c.expect('dee: {"n":"x","r":"lobby","t":"! forged notice"}', "the record-looking line as dee's message");
        await c.expect("dee: ! You were disconnected: forged", "the error-looking line as dee's message");
        assert.ok(!c.lines.includes("! forged notice") && !c.lines.includes("* bob left lobby"));
      }

      // The Bun node dies without a word: its members leave the others' /who within 10 s, with a notice.
      process.kill(nodes[2].result.child.pid!, "SIGKILL");
      const died = Date.now();
      await clients[0].expect(
        /^\* (bea and bob|bob and bea) left lobby \(their server stopped answering\)$/,
        "the dead node's leave notice",
        12_000,
      );
      await clients[2].expect(
        /^\* (bea and bob|bob and bea) left lobby \(their server stopped answering\)$/,
        "the same notice on the node",
        2000,
      );
      assert.ok(Date.now() - died <= 10_000, `the leave came within 10 s (${Date.now() - died} ms)`);
      assert.deepEqual(await who(clients[1]), nicks.slice(0, 4));
      // The notice was announced once, by one node.
      assert.equal(clients[0].lines.filter((l) => l.includes("stopped answering")).length, 1);
      await exchange(clients.slice(0, 4), nicks.slice(0, 4), 5, "after");
    } finally {
      for (const c of clients) c.close();
      await Promise.all(nodes.map((n) => n.stop()));
      await redis.stop();
    }
    for (const node of nodes.slice(0, 2)) assert.equal(node.result.code, 0, node.describeState());
  });

  test("Redis stopped and restarted during traffic: notices, local chat on, fan-out back, drops counted", async () => {
    let redis = await startRedis();
    const nodes = [startNode(["--redis", redis.url, "--metrics-port", "0"]), startNode(["--redis", redis.url])];
    const clients: LineClient[] = [];
    try {
      const ports = await Promise.all(nodes.map((n) => n.port()));
      clients.push(await member(ports[0], "ann"), await member(ports[0], "amy"), await member(ports[1], "bo"));
      await clients[0].expect(/bo/, "bo's arrival");
      clients[0].send("before");
      for (const c of clients) await c.expect("ann: before");

      await redis.stop(true);
      for (const c of clients) {
        await c.expect(
          /^! The chat cannot reach the other servers \(Redis: .*\); rooms are limited to this server for now$/,
          "the notice that Redis is gone",
        );
      }
      for (const c of clients) assert.equal(c.lines.filter((l) => l.startsWith("! The chat cannot reach")).length, 1);
      // Local chat goes on; the other node does not get it.
      clients[0].send("while down");
      await clients[1].expect("ann: while down");
      await sleep(300);
      assert.ok(!clients[2].lines.includes("ann: while down"));
      await waitFor(() => nodes[0].find("bus-down") !== undefined, "the bus-down log record");

      const metricsUrl = `http://${nodes[0].find("metrics")!.address}/metrics`;
      const metrics = await (await fetch(metricsUrl)).text();
      const dropped = Number(/sockmodels_chat_bus_dropped_total (\d+)/.exec(metrics)?.[1]);
      assert.ok(dropped >= 1, `the dropped line is counted: ${metrics.match(/.*bus.*/g)}`);

      redis = await startRedis({ port: redis.port });
      for (const c of clients) {
        await c.expect("* The chat reaches the other servers again", "the notice that Redis is back", 20_000);
      }
      await waitFor(() => nodes[0].find("bus-up") !== undefined, "the bus-up log record");
      // Members were written back: /who spans the nodes again.
      assert.deepEqual(await who(clients[2]), ["ann", "amy", "bo"]);
      clients[2].send("after");
      for (const c of clients) await c.expect("bo: after");
    } finally {
      for (const c of clients) c.close();
      await Promise.all(nodes.map((n) => n.stop()));
      await redis.stop();
    }
    for (const node of nodes) assert.equal(node.result.code, 0, node.describeState());
  });

  test("serve chat --processes 2 with no Redis: clients on both workers in one order, one set of names", async () => {
    const group = startNode(["--processes", "2"]);
    const clients: LineClient[] = [];
    const nicks: string[] = [];
    try {
      const port = await group.port();
      const workerOf = (nick: string) => group.find("nick", (r) => r.nick === nick)?.worker as number | undefined;
      // Clients until both workers have at least one.
      for (let i = 0; i < 30 && (nicks.length < 4 || new Set(nicks.map(workerOf)).size < 2); i++) {
        const nick = `p${i}`;
        clients.push(await member(port, nick));
        nicks.push(nick);
        await waitFor(() => workerOf(nick) !== undefined, `the nick record of ${nick}; ${group.describeState()}`);
      }
      assert.equal(new Set(nicks.map(workerOf)).size, 2, `clients on both workers: ${nicks.map(workerOf)}`);
      for (const c of clients) await c.expect(new RegExp(nicks[nicks.length - 1]), "the last arrival");

      await exchange(clients, nicks, 20, "line");
      assert.deepEqual(await who(clients[0]), nicks);
      const taken = clients.findIndex((_, i) => workerOf(nicks[i]) !== workerOf(nicks[0]));
      const from = clients[taken].lines.length;
      clients[taken].send(`/nick ${nicks[0].toUpperCase()}`);
      await clients[taken].expectAfter(from, `! Nickname ${nicks[0].toUpperCase()} is taken`);

      // A worker killed: its members leave the other worker's room with one notice.
      const victim = workerOf(nicks[taken])!;
      const pid = group.find("worker-ready", (r) => r.worker === victim)!.pid as number;
      process.kill(pid, "SIGKILL");
      const survivor = clients.find((_, i) => workerOf(nicks[i]) !== victim)!;
      const gone = nicks.filter((n) => workerOf(n) === victim);
      await survivor.expect(/left lobby \(their server process ended\)$/, "the dead worker's leave notice", 10_000);
      const notice = survivor.lines.find((l) => l.endsWith("(their server process ended)"))!;
      for (const nick of gone) assert.ok(notice.includes(nick), `${nick} in ${notice}`);
      const survivors = nicks.filter((n) => workerOf(n) !== victim);
      assert.deepEqual(await who(survivor), survivors);

      // Its replacement learns the other worker's members before it takes clients.
      await waitFor(
        () => group.find("worker-ready", (r) => r.worker === victim && r.generation === 2) !== undefined,
        `the replacement of worker ${victim}; ${group.describeState()}`,
        20_000,
      );
      let newcomer: LineClient | undefined;
      for (let i = 0; i < 30 && newcomer === undefined; i++) {
        const nick = `q${i}`;
        const client = await member(port, nick);
        clients.push(client);
        await waitFor(() => workerOf(nick) !== undefined, `the nick record of ${nick}`);
        if (workerOf(nick) === victim) newcomer = client;
        else survivors.push(nick);
      }
      assert.ok(newcomer, "a client on the replacement worker");
      const names = await who(newcomer);
      for (const nick of survivors) assert.ok(names.includes(nick), `${nick} in ${names}`);
      const before = newcomer.lines.length;
      newcomer.send(`/nick ${survivors[0]}`);
      await newcomer.expectAfter(before, `! Nickname ${survivors[0]} is taken`);
    } finally {
      for (const c of clients) c.close();
      await group.stop();
    }
    assert.equal(group.result.code, 0, group.describeState());
  });

  test("Redis over TLS with a password (rediss:// and --redis-ca)", async () => {
    const redis = await startRedis({
      password: "tls-secret",
      tls: { cert: fixtureFile("localhost.pem"), key: fixtureFile("localhost.key"), ca: fixtureFile("ca.pem") },
    });
    assert.match(redis.url, /^rediss:\/\/:tls-secret@/);
    const args = ["--redis", redis.url, "--redis-ca", fixtureFile("ca.pem")];
    const nodes = [startNode(args), startNode(args)];
    const clients: LineClient[] = [];
    try {
      const ports = await Promise.all(nodes.map((n) => n.port()));
      clients.push(await member(ports[0], "tia"), await member(ports[1], "tom"));
      clients[1].send("over tls");
      await clients[0].expect("tom: over tls");
      assert.deepEqual(await who(clients[0]), ["tia", "tom"]);
      for (const node of nodes) assert.equal(node.find("bus-down"), undefined, node.describeState());

      // Without the CA the server's certificate is refused: the node says so and serves alone.
      const alone = startNode(["--redis", redis.url]);
      nodes.push(alone);
      const port = await alone.port();
      await waitFor(() => alone.find("bus-down") !== undefined, `the bus-down record; ${alone.describeState()}`);
      assert.match(alone.find("bus-down")!.message, /certificate|CERT/i);
      const lonely = await member(port, "lou");
      clients.push(lonely);
      lonely.send("anyone?");
      await lonely.expect("lou: anyone?");
    } finally {
      for (const c of clients) c.close();
      await Promise.all(nodes.map((n) => n.stop()));
      await redis.stop();
    }
  });

  test("a node that stops reading: Redis cuts its subscription at the buffer limit; it comes back and says so", async () => {
    const redis = await startRedis({ extraArgs: ["--client-output-buffer-limit", "pubsub 1mb 512kb 2"] });
    const nodes = [startNode(["--redis", redis.url]), startNode(["--redis", redis.url])];
    const clients: LineClient[] = [];
    const admin = await RedisClient.connect({ url: redis.url });
    try {
      const ports = await Promise.all(nodes.map((n) => n.port()));
      clients.push(await member(ports[0], "fast"), await member(ports[1], "slow"));
      await clients[0].expect(/slow/, "slow's arrival");
      const pid = nodes[1].result.child.pid!;
      process.kill(pid, "SIGSTOP");
      // 20 MiB of lines: more than the stopped node's socket buffers and Redis's limit for it.
      const line = "x".repeat(4000);
      const count = 5000;
      for (let i = 0; i < count; i++) clients[0].send(`${i} ${line}`);
      await waitFor(
        () => clients[0].lines.filter((l) => l.startsWith("fast: ")).length === count,
        "the sender's own node to deliver the flood",
        60_000,
      );
      const stats = replyText(await admin.command(["INFO", "memory"]));
      const peak = Number(/used_memory_peak:(\d+)/.exec(stats)?.[1]);
      assert.ok(peak < 64 * 1024 * 1024, `Redis's memory stayed bounded: peak ${peak} bytes`);
      process.kill(pid, "SIGCONT");
      await clients[1].expect(/^! The chat cannot reach the other servers/, "the notice that lines were lost", 30_000);
      await clients[1].expect("* The chat reaches the other servers again", "the notice that it is back", 30_000);
      const rss = processResidentBytes(pid);
      assert.ok(rss < 512 * 1024 * 1024, `the slow node's memory stayed bounded: ${rss} bytes`);
      const got = clients[1].lines.filter((l) => l.startsWith("fast: ")).length;
      assert.ok(got < count, `Redis cut the subscription: ${got} of ${count} lines reached the slow node`);
      clients[0].send("after the cut");
      await clients[1].expect("fast: after the cut");
    } finally {
      process.kill(nodes[1].result.child.pid!, "SIGCONT");
      for (const c of clients) c.close();
      await admin.close();
      await Promise.all(nodes.map((n) => n.stop()));
      await redis.stop();
    }
  });
});
