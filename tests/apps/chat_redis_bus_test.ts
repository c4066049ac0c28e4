/**
 * The chat's Redis bus in one process against a real `redis-server`: a flood that Redis dies
 * under still reaches the sender's own node whole and in order, and its sender is not left
 * held; and a client that hops rooms faster than Redis answers leaves no member behind in them.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { startChatServer } from "../../src/apps/chat/chat_server.ts";
import { RedisChatBus } from "../../src/apps/chat/redis_bus.ts";
import { RedisClient } from "../../src/redis/redis_client.ts";
import { replyText } from "../../src/redis/resp.ts";
import { startRedis } from "../helpers/redis.ts";
import { sleep, within } from "../helpers/net.ts";
import { LineClient, waitFor } from "../cli/_helpers.ts";
import { defaultTransport } from "../../src/runtime/detect.ts";

describe("the chat's Redis bus", { timeout: 60_000 }, () => {
  test("Redis killed during a flood: every line reaches this node once, in order, and the sender goes on", async () => {
    const redis = await startRedis();
    const bus = new RedisChatBus({ url: redis.url, node: "n1", backoff: { baseMs: 50, capMs: 200 } });
    const chat = await startChatServer({ port: 0, bus });
    try {
      const a = await LineClient.connect(chat.addr.port);
      const b = await LineClient.connect(chat.addr.port);
      await a.expect(/^\* Welcome/);
      await b.expect(/^\* Welcome/);
      const count = 5000;
      a.send(...Array.from({ length: count }, (_, i) => `n ${i}`));
      await waitFor(() => b.lines.filter((l) => / n \d+$/.test(l)).length >= 200, "the flood under way");
      await redis.stop(true);
      await waitFor(
        () => b.lines.filter((l) => / n \d+$/.test(l)).length === count,
        `all ${count} lines at b; got ${b.lines.filter((l) => / n \d+$/.test(l)).length}`,
        30_000,
      );
      const numbers = b.lines.filter((l) => / n \d+$/.test(l)).map((l) => Number(l.split(" ").pop()));
      assert.deepEqual(numbers, Array.from({ length: count }, (_, i) => i), "once each, in order");
      assert.ok(bus.dropped >= 1, `lines delivered here only are counted: ${bus.dropped}`);
      assert.equal(b.lines.filter((l) => l.startsWith("! The chat cannot reach")).length, 1);
      a.send("still talking");
      await b.expect(/: still talking$/);
    } finally {
      await within(chat.close(), 15_000, "the chat server to close");
      await redis.stop();
    }
  });

  test("a storm of 500 connections reset at once leaves no name or member in Redis, and the chat serves on", async () => {
    const redis = await startRedis();
    const bus = new RedisChatBus({ url: redis.url, node: "n1", prefix: "storm" });
    const chat = await startChatServer({ port: 0, bus });
    const admin = await RedisClient.connect({ url: redis.url });
    try {
      const transport = await defaultTransport();
      for (let batch = 0; batch < 5; batch++) {
        const streams = await Promise.all(
          Array.from({ length: 100 }, () => transport.connect({ hostname: "127.0.0.1", port: chat.addr.port })),
        );
        for (const [i, stream] of streams.entries()) {
          if (i % 2 === 0) stream.write(new TextEncoder().encode(`/nick s${batch}x${i}\nhello\n`));
          stream.reset();
        }
      }
      const keys = async () =>
        (await admin.command(["KEYS", "storm:*"]) as unknown as Uint8Array[]).map((k) => replyText(k)).sort();
      // Only the node's own keys stay: no nickname, no member.
      await waitFor(() => chat.hub.members === 0, "every client gone", 10_000);
      let left: string[] = [];
      for (let i = 0; i < 50; i++) {
        left = (await keys()).filter((k) => k.includes(":nick:") || k.includes(":room:"));
        if (left.length === 0) break;
        await sleep(100);
      }
      assert.deepEqual(left, []);
      const a = await LineClient.connect(chat.addr.port);
      a.send("/nick after");
      await a.expect(/^\* guest\d+ is now after$/);
      assert.deepEqual((await keys()).filter((k) => k.includes(":nick:")), ["storm:nick:after"]);
    } finally {
      await admin.close();
      await within(chat.close(), 15_000, "the chat server to close");
      await redis.stop();
    }
  });

  test("a client that hops rooms faster than Redis answers leaves no member behind", async () => {
    const redis = await startRedis();
    const bus = new RedisChatBus({ url: redis.url, node: "n1", prefix: "hop" });
    const chat = await startChatServer({ port: 0, bus });
    const admin = await RedisClient.connect({ url: redis.url });
    try {
      const a = await LineClient.connect(chat.addr.port);
      await a.expect(/^\* Welcome/);
      a.send("/nick hopper", "/join a", "/join b", "/join a", "/nick hop2", "/join c", "/join d");
      await a.expect("* hop2 joined d", "the last join", 5000);
      await sleep(300);
      const rooms: Record<string, string[]> = {};
      for (const room of ["lobby", "a", "b", "c", "d"]) {
        const reply = await admin.command(["ZRANGE", `hop:room:${room}:node:n1`, 0, -1]);
        rooms[room] = (reply as unknown as Uint8Array[]).map((m) => replyText(m));
      }
      assert.deepEqual(rooms, { lobby: [], a: [], b: [], c: [], d: ["hop2"] });
      const nicks = (await admin.command(["KEYS", "hop:nick:*"]) as unknown as Uint8Array[]).map((k) => replyText(k));
      assert.deepEqual(nicks, ["hop:nick:hop2"]);
    } finally {
      await admin.close();
      await within(chat.close(), 15_000, "the chat server to close");
      await redis.stop();
    }
  });
});
