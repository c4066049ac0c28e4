/**
 * The chat hub on a bus that answers later, as the group's channel and Redis do, over real
 * sockets: a client's commands keep their order while its name claim waits, a flood keeps at
 * most MAX_IN_FLIGHT of a client's lines on the bus, a bus that is down delivers locally and
 * counts the drops, and a client gone before its claim came back leaves no name behind.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { startChatServer } from "../../src/apps/chat/chat_server.ts";
import { MAX_IN_FLIGHT } from "../../src/apps/chat/chat_hub.ts";
import type { ChatBus, ChatBusEvents } from "../../src/apps/chat/chat_bus.ts";
import { within } from "../helpers/net.ts";
import { LineClient, waitFor } from "../cli/_helpers.ts";

/** A bus that delivers in order a few milliseconds later, and answers claims after `claimMs`. */
class DelayedBus implements ChatBus {
  readonly kind = "delayed";
  dropped = 0;
  down = false;
  claimMs = 20;
  /** Guest-name claims to refuse, as if another node held those names. */
  refuseGuests = 0;
  events: ChatBusEvents | undefined;
  readonly queue: [string, string, number | undefined][] = [];
  readonly inFlight = new Map<number, number>();
  maxInFlight = 0;
  readonly nicks = new Set<string>();
  readonly released: string[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  start(events: ChatBusEvents): Promise<void> {
    this.events = events;
    return Promise.resolve();
  }

  publish(room: string, text: string, sender?: number): boolean {
    if (this.down) {
      this.dropped++;
      return false;
    }
    if (sender !== undefined) {
      const n = (this.inFlight.get(sender) ?? 0) + 1;
      this.inFlight.set(sender, n);
      this.maxInFlight = Math.max(this.maxInFlight, n);
    }
    this.queue.push([room, text, sender]);
    this.#timer ??= setTimeout(() => this.#flush(), 2);
    return true;
  }

  #flush(): void {
    this.#timer = undefined;
    for (const [room, text, sender] of this.queue.splice(0)) {
      if (sender !== undefined) this.inFlight.set(sender, this.inFlight.get(sender)! - 1);
      this.events?.line(room, text, sender);
    }
  }

  claimNick(nick: string): Promise<boolean> {
    return new Promise((resolve) =>
      setTimeout(() => {
        const key = nick.toLowerCase();
        if (key.startsWith("guest") && this.refuseGuests > 0) {
          this.refuseGuests--;
          return resolve(false);
        }
        if (this.nicks.has(key)) return resolve(false);
        this.nicks.add(key);
        resolve(true);
      }, this.claimMs)
    );
  }

  releaseNick(nick: string): void {
    this.released.push(nick);
    this.nicks.delete(nick.toLowerCase());
  }

  entered(): void {}
  exited(): void {}
  renamed(): void {}

  who(_room: string, local: string[]): Promise<string[]> {
    return new Promise((resolve) => setTimeout(() => resolve(local), 10));
  }

  close(): Promise<void> {
    clearTimeout(this.#timer);
    return Promise.resolve();
  }
}

async function withBus(body: (port: number, bus: DelayedBus) => Promise<void>): Promise<void> {
  const bus = new DelayedBus();
  const chat = await startChatServer({ port: 0, bus });
  try {
    await body(chat.addr.port, bus);
  } finally {
    await within(chat.close(), 15_000, "the chat server to close");
  }
}

describe("chat on a bus that answers later", () => {
  test("lines sent before the name is given wait, and keep their order", async () => {
    await withBus(async (port) => {
      const a = await LineClient.connect(port);
      a.send("/nick zed", "hello", "/who", "/nick amy", "bye");
      await a.expect("amy: bye", "the last line", 5000);
      const seen = a.lines.filter((l) => !l.startsWith("* guest") || l.includes("is now"));
      assert.match(seen[0], /^\* Welcome, guest\d+!/);
      assert.deepEqual(seen.slice(1), [
        seen[1],
        "zed: hello",
        "* In lobby: zed",
        "* zed is now amy",
        "amy: bye",
      ]);
      assert.match(seen[1], /^\* guest\d+ is now zed$/);
    });
  });

  test("a guest name refused on the bus: the next is claimed, and the client's lines wait for it", async () => {
    await withBus(async (port, bus) => {
      bus.refuseGuests = 2;
      const watcher = await LineClient.connect(port);
      await watcher.expect(/^\* Welcome/);
      bus.refuseGuests = 2;
      const a = await LineClient.connect(port);
      a.send("hello", "/join games", "/nick ann", "in games");
      await a.expect("ann: in games", "the last line", 5000);
      const guest = /^\* Welcome, (guest\d+)!/.exec(a.lines[0])![1];
      await watcher.expect(`${guest}: hello`);
      assert.ok(!watcher.lines.some((l) => l.startsWith(": ")), "no line without a name");
      assert.deepEqual(a.lines.filter((l) => !l.startsWith("* Welcome") && !/joined|left/.test(l)), [
        `${guest}: hello`,
        `* ${guest} is now ann`,
        "ann: in games",
      ]);
    });
  });

  test("a flood keeps at most MAX_IN_FLIGHT of its sender's lines on the bus, and loses none", async () => {
    await withBus(async (port, bus) => {
      const a = await LineClient.connect(port);
      const b = await LineClient.connect(port);
      await a.expect(/^\* Welcome/);
      await b.expect(/^\* Welcome/);
      const count = 3000;
      a.send(...Array.from({ length: count }, (_, i) => `n ${i}`));
      await waitFor(() => b.lines.filter((l) => / n \d+$/.test(l)).length === count, `${count} lines at b`, 20_000);
      const numbers = b.lines.filter((l) => / n \d+$/.test(l)).map((l) => Number(l.split(" ").pop()));
      assert.deepEqual(numbers, Array.from({ length: count }, (_, i) => i));
      assert.ok(bus.maxInFlight <= MAX_IN_FLIGHT, `at most ${MAX_IN_FLIGHT} in flight; saw ${bus.maxInFlight}`);
      assert.ok(bus.maxInFlight >= 2, `the bus was used: ${bus.maxInFlight}`);
    });
  });

  test("a bus that is down: one notice, lines delivered here, drops counted", async () => {
    await withBus(async (port, bus) => {
      const a = await LineClient.connect(port);
      const b = await LineClient.connect(port);
      await a.expect(/^\* Welcome/);
      const guestB = /^\* Welcome, (guest\d+)!/.exec(await b.expect(/^\* Welcome/))![1];
      // The join notices went out before the bus goes down.
      await a.expect(new RegExp(`${guestB} joined lobby`));
      bus.down = true;
      bus.events!.status(false, "test: unplugged");
      await b.expect(
        "! The chat cannot reach the other servers (test: unplugged); rooms are limited to this server for now",
      );
      a.send("still here");
      await b.expect(/^guest\d+: still here$/);
      assert.equal(bus.dropped, 1);
      bus.down = false;
      bus.events!.status(true);
      await a.expect("* The chat reaches the other servers again");
    });
  });

  test("a nickname found taken elsewhere after the bus came back: its holder becomes a guest, told why", async () => {
    await withBus(async (port, bus) => {
      const a = await LineClient.connect(port);
      const b = await LineClient.connect(port);
      a.send("/nick ada");
      await b.expect(/^\* guest\d+ is now ada$/);
      bus.nicks.delete("ada");
      bus.events!.nickLost("ada");
      await a.expect("! Your nickname ada was taken on another server while they could not reach each other");
      const renamed = await b.expect(/^\* ada is now guest\d+$/, "the rename to a guest");
      const guest = renamed.split(" ").pop()!;
      a.send("hi");
      await b.expect(`${guest}: hi`);
      assert.ok(bus.nicks.has(guest), "the guest name was claimed on the bus");
    });
  });

  test("a client gone before its claim came back leaves no name behind", async () => {
    await withBus(async (port, bus) => {
      bus.claimMs = 200;
      const a = await LineClient.connect(port);
      a.send("/nick early");
      await waitFor(() => bus.nicks.size === 0, "nothing claimed yet", 100);
      a.close();
      await waitFor(() => bus.nicks.size > 0 || bus.released.length > 0, "the guest claim to come back", 2000);
      await waitFor(() => bus.nicks.size === 0, `the guest name released; held ${[...bus.nicks]}`, 2000);
      assert.equal(bus.released.length, 1);
    });
  });
});
