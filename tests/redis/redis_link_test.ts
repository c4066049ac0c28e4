/**
 * RedisLink against a real redis-server that is killed and started again on the same port:
 * the link says it went down, drops (and counts) what is published meanwhile, reconnects with
 * backoff, subscribes again, and says it is back.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { RedisLink } from "../../src/redis/redis_link.ts";
import { RedisClient } from "../../src/redis/redis_client.ts";
import { replyText } from "../../src/redis/resp.ts";
import { NetError } from "../../src/runtime/errors.ts";
import { startRedis } from "../helpers/redis.ts";
import { expectNetError, sleep, until } from "../helpers/net.ts";

describe("RedisLink", { timeout: 60_000 }, () => {
  test("survives a Redis restart: down, dropped, reconnected, subscribed again, up", async () => {
    let server = await startRedis();
    const statuses: string[] = [];
    const got: string[] = [];
    const link = new RedisLink({
      url: server.url,
      connectTimeoutMs: 1000,
      backoff: { baseMs: 50, capMs: 200 },
      onStatus: (status, error) => statuses.push(error ? `${status} (${(error as NetError).code})` : status),
    });
    try {
      link.subscribe("room:a", (message) => got.push(replyText(message)));
      await link.ready();
      assert.equal(link.status, "up");
      assert.ok(link.publish("room:a", "one"));
      await until(() => got.includes("one"), "the first message");

      await server.stop(true);
      await until(() => link.status === "down", "the link to see Redis gone");
      assert.match(statuses.at(-1)!, /^down \(ECONNRESET\)$/);
      assert.equal(link.publish("room:a", "lost"), false);
      assert.equal(link.publish("room:a", "lost too"), false);
      assert.equal(link.dropped, 2);
      await expectNetError(link.command(["PING"]), "ENOTCONN");
      await sleep(300); // a few failed attempts, each after a backoff delay

      server = await startRedis({ port: server.port });
      await until(() => link.status === "up", "the link to come back", 10_000);
      assert.deepEqual(statuses.filter((s) => s === "up"), ["up", "up"]);
      // Subscribed again: a message from another client reaches the handler.
      const other = await RedisClient.connect({ url: server.url });
      await until(() => {
        void other.command(["PUBLISH", "room:a", "two"]);
        return got.includes("two");
      }, "a message after the restart");
      await other.close();
      assert.ok(!got.includes("lost") && !got.includes("lost too"), "nothing published while down was kept");
      assert.equal(replyText(await link.command(["ECHO", "back"])), "back");
    } finally {
      await link.close();
      await server.stop();
    }
    assert.equal(link.status, "closed");
    assert.equal(link.publish("room:a", "after close"), false);
  });

  test("a Redis that is not there at the start: down at once, up once it comes", async () => {
    const probe = await startRedis();
    const port = probe.port;
    await probe.stop();
    const statuses: string[] = [];
    const link = new RedisLink({
      url: `redis://127.0.0.1:${port}`,
      connectTimeoutMs: 500,
      backoff: { baseMs: 50, capMs: 100 },
      onStatus: (status) => statuses.push(status),
    });
    let server;
    try {
      await until(() => statuses.includes("down"), "the first failed attempt");
      assert.ok(link.lastError instanceof NetError);
      assert.equal(link.lastError.code, "ECONNREFUSED");
      server = await startRedis({ port });
      await link.ready();
      assert.deepEqual(statuses, ["down", "up"]);
    } finally {
      await link.close();
      await server?.stop();
    }
  });
});
