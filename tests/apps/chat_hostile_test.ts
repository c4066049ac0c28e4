/**
 * The chat against hostile and careless clients, on every model, over real sockets: replies
 * that would pass the line limit, control characters, idle and dripping clients, a /who of
 * 500, a storm of resets while others talk, and a sender that never stops.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ChatServer, type ChatServerOptions, startChatServer } from "../../src/apps/chat/chat_server.ts";
import { MAX_CHAT_MESSAGE } from "../../src/apps/chat/chat_hub.ts";
import { HOST_MODELS } from "../../src/hosts/mod.ts";
import { defaultTransport } from "../../src/runtime/detect.ts";
import type { Stream } from "../../src/runtime/types.ts";
import { sleep, within } from "../helpers/net.ts";
import { LineClient, waitFor } from "../cli/_helpers.ts";

async function withChat(options: ChatServerOptions, body: (chat: ChatServer) => Promise<void>): Promise<void> {
  const chat = await startChatServer({ port: 0, ...options });
  try {
    await body(chat);
  } finally {
    await within(chat.close(), 15_000, "the chat server to close");
  }
}

async function welcomed(port: number): Promise<LineClient> {
  const client = await LineClient.connect(port);
  await client.expect(/^\* Welcome, /, "the welcome");
  return client;
}

const bytes = (text: string) => new TextEncoder().encode(text).byteLength;

for (const model of HOST_MODELS) {
  describe(`chat on the ${model} model, hostile input`, () => {
    test("replies that would pass the line limit are refused with a reason; the server lives", async () => {
      await withChat({ model }, async (chat) => {
        const a = await welcomed(chat.addr.port);
        const b = await welcomed(chat.addr.port);
        a.send("B".repeat(4095));
        await a.expect(/^! Your message was not sent: .* takes 4103 bytes, above the limit of 4096$/);
        a.send("/nick " + "N".repeat(4050));
        await a.expect(/^! Nickname "N{40}…" \(4050 characters\) is not valid/);
        const invalid = new Uint8Array(3000 + 7);
        invalid.set(new TextEncoder().encode("/join "));
        invalid.fill(0xff, 6, 3006);
        invalid[3006] = 0x0a;
        a.stream.write(invalid);
        await a.expect(/^! Room "\uFFFD{40}…" \(3000 characters\) is not valid/);
        a.send("still here");
        await b.expect(/^guest\d+: still here$/);
        for (const line of [...a.lines, ...b.lines]) {
          assert.ok(bytes(line) <= MAX_CHAT_MESSAGE, `a line of ${bytes(line)} bytes`);
        }
        assert.ok(!a.closed && !b.closed);
      });
    });

    test("a line over the limit: its sender is told why before it is closed, and the room is told plainly", async () => {
      await withChat({ model }, async (chat) => {
        const a = await welcomed(chat.addr.port);
        const b = await welcomed(chat.addr.port);
        a.send("x".repeat(4103));
        await a.expect(
          /^! Your message was not sent: it is over the limit of 4096 bytes \(.*\); closing the connection$/,
        );
        await waitFor(() => a.closed, "the sender to be closed");
        await b.expect(/^\* guest\d+ was disconnected: they sent a message that was over the limit of 4096 bytes$/);
        assert.ok(!b.closed);
      });
    });

    test("control characters other than tab reach nobody raw", async () => {
      await withChat({ model }, async (chat) => {
        const a = await welcomed(chat.addr.port);
        const b = await welcomed(chat.addr.port);
        a.send("a\x00b\x07c\x1b]0;pwned\x07d\te\x7ff\u009bg");
        const line = await b.expect(/^guest\d+: a/);
        assert.equal(line.replace(/^guest\d+: /, ""), "a^@b^Gc^[]0;pwned^Gd\te^?f\\x9bg");
        a.send("/nick \x1b[2J");
        await a.expect(/^! Nickname "\^\[\[2J" is not valid/);
      });
    });

    test("clients that send no whole line for the idle timeout are told and closed; talkers stay", async () => {
      await withChat({ model, idleTimeoutMs: 400 }, async (chat) => {
        const silent = await welcomed(chat.addr.port);
        const dripping = await welcomed(chat.addr.port);
        const talker = await welcomed(chat.addr.port);
        const drip = (async () => {
          for (let i = 0; i < 12 && !dripping.closed; i++) {
            dripping.stream.write(new Uint8Array([0x78])); // "x", never a newline
            talker.send(`tick ${i}`);
            await sleep(100);
          }
        })();
        await waitFor(() => silent.closed && dripping.closed, "the idle clients to be closed", 5000);
        await drip;
        assert.ok(!talker.closed, "the talker is still connected");
        for (const idle of [silent, dripping]) {
          assert.ok(idle.lines.some((l) => /^! You sent nothing for \d+ s; closing the connection$/.test(l)));
        }
        await talker.expect(/^\* guest\d+ (and guest\d+ )?left lobby \(idle\)$|^\* guest\d+ and guest\d+ left lobby$/);
      });
    });
  });
}

describe("chat on the engine model, floods and storms", () => {
  test("/who of 500 members lists them all in lines under the limit", async () => {
    await withChat({}, async (chat) => {
      const clients: LineClient[] = [];
      try {
        for (let i = 0; i < 500; i += 50) {
          clients.push(...await Promise.all(Array.from({ length: 50 }, () => welcomed(chat.addr.port))));
        }
        const asker = clients[0];
        const from = asker.lines.length;
        asker.send("/who", "/nick done");
        await asker.expectAfter(from, "* guest1 is now done", 20_000);
        const who = asker.lines.slice(from).filter((l) => /^\* In lobby:|^\* {3}/.test(l));
        assert.ok(who.length >= 2, `/who took ${who.length} lines`);
        for (const line of who) assert.ok(bytes(line) <= MAX_CHAT_MESSAGE);
        const names = who.join(" ").replace("* In lobby:", "").split(/[,\s*]+/).filter(Boolean);
        assert.equal(new Set(names).size, 500);
      } finally {
        for (const c of clients) c.close();
      }
    });
  });

  test("talkers lose nothing while 20 rounds of 300 clients join and abort", async () => {
    await withChat({}, async (chat) => {
      const transport = await defaultTransport();
      const talkers = await Promise.all(Array.from({ length: 4 }, () => welcomed(chat.addr.port)));
      let said = 0;
      for (let round = 0; round < 20; round++) {
        const storm = await Promise.all(Array.from({ length: 300 }, async () => {
          const stream: Stream = await transport.connect({
            hostname: "127.0.0.1",
            port: chat.addr.port,
            timeoutMs: 10_000,
          });
          const welcomedOnce = new Promise<void>((resolve) =>
            stream.setHandlers({ onData: () => resolve(), onClose: () => resolve() })
          );
          return { stream, welcomedOnce };
        }));
        talkers[round % 4].send(`round ${round}`);
        said++;
        await within(Promise.all(storm.map((s) => s.welcomedOnce)), 20_000, "the storm's welcomes");
        for (const s of storm) s.stream.reset();
      }
      for (const t of talkers) {
        await waitFor(
          () => t.lines.filter((l) => /: round \d+$/.test(l)).length === said,
          "every round's line",
          20_000,
        );
        assert.ok(!t.closed);
      }
      const probe = await welcomed(chat.addr.port);
      probe.close();
    });
  });
});
