/**
 * The Redis client against a real `redis-server` on an ephemeral port: commands in order,
 * typed error replies, AUTH and SELECT from the URL, TLS, publish/subscribe, command
 * timeouts, a server that dies with commands in flight, and a peer that does not speak RESP.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseRedisUrl, RedisClient } from "../../src/redis/redis_client.ts";
import { RedisProtocolError, RedisReplyError, replyText } from "../../src/redis/resp.ts";
import { NetError } from "../../src/runtime/errors.ts";
import { defaultTransport } from "../../src/runtime/detect.ts";
import { type RedisServer, startRedis } from "../helpers/redis.ts";
import { fixtureFile, testCa } from "../helpers/tls.ts";
import { expectNetError, sleep } from "../helpers/net.ts";
import { type MemoryStream, MemoryTransport } from "../../src/runtime/memory.ts";
import { RespDecoder } from "../../src/redis/resp.ts";

describe("parseRedisUrl", () => {
  test("reads host, port, TLS, user, password and database", () => {
    assert.deepEqual(parseRedisUrl("redis://127.0.0.1"), { hostname: "127.0.0.1", port: 6379, tls: false, db: 0 });
    assert.deepEqual(parseRedisUrl("rediss://app:p%40ss@[::1]:6380/3"), {
      hostname: "::1",
      port: 6380,
      tls: true,
      username: "app",
      password: "p@ss",
      db: 3,
    });
    assert.deepEqual(parseRedisUrl("redis://:secret@localhost:7000"), {
      hostname: "localhost",
      port: 7000,
      tls: false,
      password: "secret",
      db: 0,
    });
  });

  test("refuses what is not a Redis URL, naming it", () => {
    assert.throws(() => parseRedisUrl("localhost:6379"), /redis:\/\/ or rediss:\/\/, got "localhost:6379"/);
    assert.throws(() => parseRedisUrl("http://x"), /starts with redis:\/\/ or rediss:\/\/, got "http:\/\/x"/);
    assert.throws(() => parseRedisUrl("redis://h/x"), /database must be a number, got "x"/);
    assert.throws(() => parseRedisUrl("not a url"), /looks like redis:\/\/HOST:PORT, got "not a url"/);
  });
});

describe("RedisClient against redis-server", { timeout: 60_000 }, () => {
  let server: RedisServer;
  before(async () => {
    server = await startRedis();
  });
  after(async () => {
    await server?.stop();
  });

  test("commands resolve in order, and error replies are typed", async () => {
    const redis = await RedisClient.connect({ url: server.url });
    try {
      assert.equal(await redis.command(["SET", "greeting", "héllo"]), "OK");
      assert.equal(replyText(await redis.command(["GET", "greeting"])), "héllo");
      assert.equal(await redis.command(["GET", "missing"]), null);
      const replies = await Promise.all(Array.from({ length: 1000 }, () => redis.command(["INCR", "counter"])));
      assert.deepEqual(replies, Array.from({ length: 1000 }, (_, i) => i + 1));
      const error = await redis.command(["LPUSH", "greeting", "x"]).catch((e) => e);
      assert.ok(error instanceof RedisReplyError);
      assert.equal(error.code, "WRONGTYPE");
      // The connection goes on after an error reply.
      assert.equal(await redis.command(["DEL", "greeting", "counter"]), 2);
      await assert.rejects(redis.command([]), TypeError);
    } finally {
      await redis.close();
    }
    await expectNetError(redis.command(["PING"]), "ENOTCONN");
  });

  test("publish/subscribe delivers every message in order, and a subscribed connection refuses other commands", async () => {
    const subscriber = await RedisClient.connect({ url: server.url });
    const publisher = await RedisClient.connect({ url: server.url });
    try {
      const got: string[] = [];
      await subscriber.subscribe("room:1", (message, channel) => got.push(`${channel} ${replyText(message)}`));
      const counts = await Promise.all(
        Array.from({ length: 500 }, (_, i) => publisher.command(["PUBLISH", "room:1", `m${i}`])),
      );
      assert.ok(counts.every((n) => n === 1));
      const deadline = Date.now() + 5000;
      while (got.length < 500 && Date.now() < deadline) await sleep(5);
      assert.deepEqual(got, Array.from({ length: 500 }, (_, i) => `room:1 m${i}`));
      await assert.rejects(subscriber.command(["GET", "x"]), /subscribed, so it takes only SUBSCRIBE.*not GET/);
      await assert.rejects(subscriber.subscribe("room:1", () => {}), /Already subscribed to "room:1"/);
      await subscriber.unsubscribe("room:1");
      assert.equal(await publisher.command(["PUBLISH", "room:1", "late"]), 0);
      assert.equal(await subscriber.command(["PING"]), "PONG");
    } finally {
      await subscriber.close();
      await publisher.close();
    }
  });

  test("a command that gets no reply in time is rejected, and later replies still match", async () => {
    const redis = await RedisClient.connect({ url: server.url, commandTimeoutMs: 150 });
    const admin = await RedisClient.connect({ url: server.url });
    try {
      await admin.command(["CLIENT", "PAUSE", 600, "ALL"]);
      const slow = await expectNetError(redis.command(["SET", "paused", "1"]), "ETIMEDOUT");
      assert.match(slow.message, /did not answer SET within 150 ms/);
      await sleep(700);
      assert.equal(replyText(await redis.command(["GET", "paused"])), "1");
    } finally {
      await redis.close();
      await admin.close();
    }
  });

  test("a server that dies rejects the commands in flight with a NetError", async () => {
    const own = await startRedis();
    const redis = await RedisClient.connect({ url: own.url });
    const closed = new Promise<Error | undefined>((resolve) => redis.onClose(resolve));
    const blocked = redis.command(["BLPOP", "never", 0]).catch((e) => e);
    await sleep(50);
    await own.stop(true);
    const error = await blocked;
    assert.ok(error instanceof NetError, `got ${error}`);
    assert.match(error.message, /The Redis connection ended before the reply came/);
    assert.ok((await closed) instanceof NetError);
    assert.ok(redis.closed);
    await expectNetError(RedisClient.connect({ url: own.url, connectTimeoutMs: 2000 }), "ECONNREFUSED");
  });

  test("a peer that does not speak RESP is a RedisProtocolError for what was waiting", async () => {
    const transport = await defaultTransport();
    const listener = await transport.listen({
      hostname: "127.0.0.1",
      port: 0,
      onAccept: (stream) =>
        stream.setHandlers({ onData: () => stream.write(new TextEncoder().encode("HTTP/1.1 400\r\n")) }),
    });
    try {
      const redis = await RedisClient.connect({ url: `redis://127.0.0.1:${listener.addr.port}` });
      const closed = new Promise<Error | undefined>((resolve) => redis.onClose(resolve));
      const error = await redis.command(["PING"]).catch((e) => e);
      assert.ok(error instanceof NetError);
      assert.ok(error.cause instanceof RedisProtocolError, `cause ${error.cause}`);
      assert.match(String(error.cause.message), /Unknown RESP type byte 0x48/);
      assert.ok((await closed) instanceof RedisProtocolError);
    } finally {
      await listener.close();
    }
  });
});

describe("RedisClient logging in", { timeout: 60_000 }, () => {
  test("AUTH and SELECT from the URL; a wrong or missing password is a typed refusal", async () => {
    const server = await startRedis({ password: "s3cret:pass" });
    try {
      const redis = await RedisClient.connect({ url: `${server.url}/2` });
      await redis.command(["SET", "where", "db2"]);
      assert.equal(replyText(await redis.command(["CLIENT", "INFO"])).match(/db=(\d+)/)?.[1], "2");
      await redis.close();
      const wrong = await RedisClient.connect({ url: `redis://:nope@127.0.0.1:${server.port}` }).catch((e) => e);
      assert.ok(wrong instanceof RedisReplyError, `got ${wrong}`);
      assert.equal(wrong.code, "WRONGPASS");
      const anonymous = await RedisClient.connect({ url: `redis://127.0.0.1:${server.port}` });
      const refused = await anonymous.command(["GET", "where"]).catch((e) => e);
      assert.ok(refused instanceof RedisReplyError);
      assert.equal(refused.code, "NOAUTH");
      await anonymous.close();
    } finally {
      await server.stop();
    }
  });

  test("rediss:// connects over TLS, checking the server's certificate", async () => {
    const server = await startRedis({
      tls: { cert: fixtureFile("localhost.pem"), key: fixtureFile("localhost.key"), ca: fixtureFile("ca.pem") },
    });
    try {
      const redis = await RedisClient.connect({ url: server.url, tls: { ca: testCa } });
      assert.equal(await redis.command(["PING"]), "PONG");
      await redis.close();
      const untrusted = await RedisClient.connect({ url: server.url, connectTimeoutMs: 3000 }).catch((e) => e);
      assert.ok(untrusted instanceof NetError, `got ${untrusted}`);
      assert.match(untrusted.code, /^CERT_/);
    } finally {
      await server.stop();
    }
  });
});

describe("RedisClient over the memory transport's faults", () => {
  /** A fake server: GET answers a 300-byte bulk string, BOOM resets after half a reply. */
  async function fakeRedis(memory: MemoryTransport) {
    const payload = "v".repeat(300);
    return await memory.listen({
      port: 0,
      onAccept(stream) {
        const commands = new RespDecoder();
        stream.setHandlers({
          onData(chunk) {
            for (const command of commands.push(chunk)) {
              const name = replyText((command as Uint8Array[])[0]);
              if (name === "GET") stream.write(new TextEncoder().encode(`$300\r\n${payload}\r\n`));
              else if (name === "BOOM") {
                stream.write(new TextEncoder().encode("$300\r\nvvv"));
                setTimeout(() => (stream as MemoryStream).injectReset(), 20);
              } else stream.write(new TextEncoder().encode("-ERR unknown command\r\n"));
            }
          },
        });
      },
    });
  }

  test("replies that arrive a byte at a time still resolve every command in order", async () => {
    const memory = new MemoryTransport({ chunkSize: 1 });
    const listener = await fakeRedis(memory);
    const redis = await RedisClient.connect({ url: `redis://127.0.0.1:${listener.addr.port}`, transport: memory });
    const replies = await Promise.all(Array.from({ length: 20 }, () => redis.command(["GET", "k"])));
    assert.ok(replies.every((r) => replyText(r) === "v".repeat(300)));
    const unknown = await redis.command(["NOPE"]).catch((e) => e);
    assert.ok(unknown instanceof RedisReplyError);
    await redis.close();
    await listener.close();
  });

  test("a reset in the middle of a reply rejects that command and every one after it", async () => {
    const memory = new MemoryTransport({ chunkSize: 7 });
    const listener = await fakeRedis(memory);
    const redis = await RedisClient.connect({ url: `redis://127.0.0.1:${listener.addr.port}`, transport: memory });
    const first = redis.command(["GET", "k"]);
    const broken = redis.command(["BOOM"]).catch((e) => e);
    const after = redis.command(["GET", "k"]).catch((e) => e);
    assert.equal(replyText(await first), "v".repeat(300));
    for (const error of [await broken, await after]) {
      assert.ok(error instanceof NetError, `got ${error}`);
      assert.equal(error.code, "ECONNRESET");
    }
    assert.ok(redis.closed);
    await listener.close();
  });
});
