/**
 * The chat server of `sockmodels serve chat`, on every model, over real sockets on
 * 127.0.0.1: rooms, nicknames, commands, the order of broadcasts, and a stalled client that
 * is disconnected with a notice while the others lose nothing.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ChatServerOptions, startChatServer } from "../../src/apps/chat/chat_server.ts";
import { HOST_MODELS } from "../../src/hosts/mod.ts";
import { within } from "../helpers/net.ts";
import { LineClient, waitFor } from "./_helpers.ts";

async function join(port: number, n: number, lp4 = false): Promise<LineClient> {
  const client = await LineClient.connect(port, { lp4 });
  await client.expect(new RegExp(`^\\* Welcome, guest${n}! You are in room lobby\\.`), `guest${n}'s welcome`);
  return client;
}

const chatLines = (c: LineClient) => c.lines.filter((l) => /^\w+: /.test(l));

/** Starts a chat server, connects `count` clients (guest1, guest2, …) and runs `body`. */
async function withChat(
  options: ChatServerOptions,
  count: number,
  body: (clients: LineClient[]) => Promise<void>,
): Promise<void> {
  const chat = await startChatServer({ port: 0, ...options });
  const clients: LineClient[] = [];
  try {
    for (let n = 1; n <= count; n++) clients.push(await join(chat.addr.port, n, options.framing === "lp4"));
    await body(clients);
  } finally {
    for (const x of clients) x.close();
    await within(chat.close(), 10_000, "the chat server to close");
  }
}

for (const model of HOST_MODELS) {
  describe(`serve chat, ${model} model`, () => {
    test("rooms, nicknames, commands and one broadcast order for everyone", async () => {
      await withChat({ model }, 3, async (clients) => {
        const [a, b, c] = clients;
        // Joins close together share a line.
        await a.expect(/^\* (guest\d+, )*(guest\d+ and )?guest3 joined lobby$/);

        a.send("/nick alice");
        for (const x of clients) await x.expect("* guest1 is now alice");
        b.send("/nick ALICE");
        await b.expect("! Nickname ALICE is taken");
        b.send("/nick bob", "/nick bad name!");
        await b.expect('! Nickname "bad name!" is not valid: use 1 to 20 letters, digits, _ or -');
        c.send("/nick carol", "/frobnicate");
        await c.expect("! Unknown command /frobnicate. Commands: /nick NAME, /join ROOM, /who, /quit");
        for (const x of clients) await x.expect("* guest3 is now carol");
        assert.ok(clients.every((x) => x.lines.includes("* guest2 is now bob")));
        a.send("/who");
        await a.expect("* In lobby: alice, bob, carol");

        // Everyone talks at once: all three see one and the same order, and each sender's
        // lines in the order it sent them.
        for (let i = 0; i < 20; i++) {
          a.send(`a${i}`);
          b.send(`b${i}`);
          c.send(`c${i}`);
        }
        for (const x of clients) await waitFor(() => chatLines(x).length >= 60, "60 chat lines");
        const order = chatLines(a);
        assert.deepEqual(chatLines(b), order);
        assert.deepEqual(chatLines(c), order);
        for (const [nick, prefix] of [["alice", "a"], ["bob", "b"], ["carol", "c"]]) {
          const mine = order.filter((l) => l.startsWith(`${nick}: `));
          assert.deepEqual(mine, Array.from({ length: 20 }, (_, i) => `${nick}: ${prefix}${i}`));
        }

        // Rooms: carol moves, and messages stay in their room.
        c.send("/join games");
        await c.expect("* carol joined games");
        await a.expect("* carol left lobby");
        await b.expect("* carol left lobby");
        a.send("only for the lobby");
        c.send("only for games", "/who");
        await c.expect("* In games: carol");
        await b.expect("alice: only for the lobby");
        await c.expect("carol: only for games");
        assert.ok(!c.lines.includes("alice: only for the lobby"), "carol is not in the lobby any more");
        assert.ok(!a.lines.includes("carol: only for games") && !b.lines.includes("carol: only for games"));
        c.send("/join games");
        await c.expect("! You are already in games");

        // /quit says goodbye, closes, and the room is told.
        b.send("/quit");
        await b.expect("* Bye, bob!");
        await waitFor(() => b.closed, "bob's connection to close");
        await a.expect("* bob left lobby");
        a.send("/who");
        await a.expect("* In lobby: alice");
      });
    });

    test("a stalled client is disconnected with a notice, and the others lose nothing", async () => {
      await withChat({ model, highWaterMark: 64 * 1024, slowCloseGraceMs: 10_000 }, 3, async ([a, b, c]) => {
        c.send("/nick carol");
        await b.expect("* guest3 is now carol");
        c.stream.pause(); // carol stops reading

        // alice talks until the server gives up on carol; bob keeps reading.
        const filler = "x".repeat(1000);
        let sent = 0;
        const notice =
          /^\* carol was disconnected: too slow to read \(.* unsent, above the high water mark of 64\.0 KiB\)$/;
        const spoken = (x: LineClient) => x.lines.filter((l) => l.startsWith("guest1: ")).length;
        while (!b.lines.some((l) => notice.test(l))) {
          assert.ok(sent < 40_000, "carol was never disconnected");
          for (let i = 0; i < 50; i++) a.send(`m${sent++} ${filler}`);
          await waitFor(() => spoken(b) >= sent - 100, "bob to keep up");
        }
        for (let i = 0; i < 10; i++) a.send(`after ${i}`);
        const expected = [
          ...Array.from({ length: sent }, (_, i) => `guest1: m${i} ${filler}`),
          ...Array.from({ length: 10 }, (_, i) => `guest1: after ${i}`),
        ];
        for (const x of [a, b]) {
          await waitFor(() => spoken(x) === expected.length, "every line");
          assert.deepEqual(
            x.lines.filter((l) => l.startsWith("guest1: ")),
            expected,
            "nothing lost, nothing reordered",
          );
          assert.equal(x.lines.filter((l) => notice.test(l)).length, 1);
        }

        // carol reads again: what was queued for her, then her own notice, then the end.
        c.stream.resume();
        await c.expect(/^! You were disconnected: too slow to read/, "carol's notice", 20_000);
        await waitFor(() => c.closed, "carol's connection to close", 20_000);
        assert.match(c.lines.at(-1)!, /^! You were disconnected: too slow to read/);
        assert.ok(!c.lines.includes("guest1: after 0"), "nothing is sent to carol after the notice");
        a.send("/who");
        await a.expect("* In lobby: guest1, guest2");
      });
    });

    test("lp4 framing, and a line too long closes only its sender", async () => {
      await withChat({ model, framing: "lp4" }, 2, async ([a, b]) => {
        a.send("/nick alice", "hello over lp4");
        await b.expect("alice: hello over lp4");
        b.send("y".repeat(5000));
        await b.expect(/^! .*; closing the connection$/, "the notice about the long message");
        await waitFor(() => b.closed, "the sender of the long message to be closed");
        await a.expect(/^\* guest2 was disconnected: /);
        a.send("still here");
        await a.expect("alice: still here");
      });
    });
  });
}
