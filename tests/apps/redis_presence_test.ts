/**
 * The chat's presence in a real Redis, seen from two nodes: nickname claims that only one node
 * wins, /who across nodes in joining order, a node that dies without a word vanishing when its
 * keys expire, and a Redis that restarts empty learning everything back from the renewals.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { RedisPresence } from "../../src/apps/chat/redis_presence.ts";
import { RedisLink } from "../../src/redis/redis_link.ts";
import { startRedis } from "../helpers/redis.ts";
import { until } from "../helpers/net.ts";

describe("RedisPresence", { timeout: 60_000 }, () => {
  test("claims, /who across nodes, a dead node's entries expiring, and a Redis restart", async () => {
    let server = await startRedis();
    const links = [0, 1].map(() =>
      new RedisLink({ url: server.url, connectTimeoutMs: 1000, backoff: { baseMs: 50, capMs: 100 } })
    );
    await Promise.all(links.map((l) => l.ready()));
    const lost: string[] = [];
    const a = new RedisPresence({ link: links[0], node: "a", ttlMs: 600, onNickLost: (n) => lost.push(`a:${n}`) });
    const b = new RedisPresence({ link: links[1], node: "b", ttlMs: 600, onNickLost: (n) => lost.push(`b:${n}`) });
    try {
      // One winner for a name, whatever its case; a node's own claim is its own.
      const [first, second] = await Promise.all([a.claimNick("Ada"), b.claimNick("ada")]);
      assert.equal(Number(first) + Number(second), 1, "exactly one node holds ada");
      const [holder, other] = first ? [a, b] : [b, a];
      assert.equal(await holder.claimNick("ADA"), true);
      assert.equal(await other.claimNick("Ada"), false);

      await a.enter("lobby", "ann");
      await b.enter("lobby", "bob");
      await a.enter("lobby", "amy");
      await b.enter("games", "bea");
      assert.deepEqual(await a.who("lobby"), ["ann", "bob", "amy"]);
      assert.deepEqual(await b.who("lobby"), ["ann", "bob", "amy"]);
      await a.rename("lobby", "ann", "anna");
      await b.exit("lobby", "bob");
      assert.deepEqual(await b.who("lobby"), ["anna", "amy"]);

      // Freed names can be claimed elsewhere.
      await holder.releaseNick("ada");
      assert.equal(await other.claimNick("ada"), true);

      // Redis restarts empty: both nodes write their entries back within a renewal.
      await server.stop(true);
      server = await startRedis({ port: server.port });
      await Promise.all(links.map((l) => l.ready()));
      // The next renewal (every ttl / 3) writes everything back; run one on each node now.
      await Promise.all([a.renew(), b.renew()]);
      assert.deepEqual(await b.who("lobby"), ["anna", "amy"]);
      assert.deepEqual(await a.who("games"), ["bea"]);
      assert.equal(await holder.claimNick("ada"), false, "ada was claimed back by the node that held it");
      assert.deepEqual(lost, []);
      // The join counter went on from where the nodes were: a new member comes last.
      await b.enter("lobby", "zed");
      assert.deepEqual(await a.who("lobby"), ["anna", "amy", "zed"]);
      await b.exit("lobby", "zed");

      // Node a dies without a word: its members and names vanish once their keys expire.
      await a.close(false);
      const died = Date.now();
      await until(async () => (await b.who("lobby")).length === 0, "a's members to vanish");
      assert.ok(Date.now() - died <= 600 + 2000, `vanished within the TTL (${Date.now() - died} ms)`);
      assert.deepEqual(await b.who("games"), ["bea"], "b's own members stay");
    } finally {
      await a.close();
      await b.close();
      await Promise.all(links.map((l) => l.close()));
      await server.stop();
    }
  });
});
