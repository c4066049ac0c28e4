import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { NetError } from "../../src/runtime/errors.ts";
import { type Readiness, waitUntil, type Watchable } from "../../src/core/socket_core.ts";
import { NonBlockingListener, NonBlockingSocket, WOULD_BLOCK } from "../../src/models/nonblocking.ts";
import {
  FD_SETSIZE,
  FdSet,
  poll,
  POLLERR,
  type PollFd,
  POLLHUP,
  POLLIN,
  POLLNVAL,
  POLLOUT,
  POLLRDNORM,
  POLLWRNORM,
  select,
  Selector,
} from "../../src/models/select.ts";
import { defaultTransport } from "../../src/runtime/detect.ts";
import { createMemoryTransport, type MemoryStream } from "../../src/runtime/memory.ts";
import type { Stream, Transport } from "../../src/runtime/types.ts";
import { type EchoFraming, type EchoServer, type EchoServerOptions, startEcho } from "../../src/apps/echo.ts";

const startSelectEcho = (options: EchoServerOptions) => startEcho("select", options);
const startPollEcho = (options: EchoServerOptions) => startEcho("poll", options);
const startSelectorEcho = (options: EchoServerOptions) => startEcho("selector", options);
import { concat, observe, randomBytes, sleep, until, within } from "../helpers/net.ts";

const text = (s: string) => new TextEncoder().encode(s);

async function acceptOne(listener: NonBlockingListener): Promise<NonBlockingSocket> {
  await waitUntil(listener.core, () => listener.core.pending > 0, { timeoutMs: 10_000 }, "accept");
  const sock = listener.tryAccept();
  assert.notEqual(sock, WOULD_BLOCK);
  return sock as NonBlockingSocket;
}

interface Pair {
  listener: NonBlockingListener;
  client: NonBlockingSocket;
  server: NonBlockingSocket;
  close(): Promise<void>;
}

async function pair(
  transport: Transport,
  sizes: { clientSend?: number; serverReceive?: number } = {},
): Promise<Pair> {
  const listener = await NonBlockingListener.listen({
    transport,
    hostname: "127.0.0.1",
    port: 0,
    receiveBufferSize: sizes.serverReceive,
  });
  const client = await NonBlockingSocket.connect("127.0.0.1", listener.addr.port, {
    transport,
    sendBufferSize: sizes.clientSend,
  });
  await within(client.core.connected(), 10_000, "connect");
  const server = await acceptOne(listener);
  return {
    listener,
    client,
    server,
    async close() {
      // Resetting a socket whose close() is still under way never finishes on Node's
      // node:net transport, so sockets the test closed are left to finish their close.
      for (const sock of [client, server]) if (!sock.core.isClosed) sock.reset();
      await listener.close();
    },
  };
}

/** A port with nothing listening on it. */
async function deadPort(transport: Transport): Promise<number> {
  const l = await transport.listen({ hostname: "127.0.0.1", port: 0, onAccept: (s) => s.reset() });
  const port = l.addr.port;
  await l.close();
  return port;
}

/** Sends until the socket would block; returns the bytes taken. */
function fill(sock: NonBlockingSocket, chunk = new Uint8Array(16 * 1024)): number {
  let total = 0;
  for (let i = 0; i < 10_000; i++) {
    const n = sock.trySend(chunk);
    if (n === WOULD_BLOCK) return total;
    total += n;
  }
  throw new Error("the send buffer never filled");
}

/** Reads everything waiting. */
function drain(sock: NonBlockingSocket): number {
  const buf = new Uint8Array(64 * 1024);
  let total = 0;
  for (;;) {
    const n = sock.tryRecv(buf);
    if (n === WOULD_BLOCK || n === 0) return total;
    total += n;
  }
}

/** A Watchable whose readiness the test sets, counting subscriptions and readiness calls. */
class FakeCore implements Watchable {
  static lastId = 1_000_000;
  readonly id = ++FakeCore.lastId;
  isClosed = false;
  state: Readiness = { readable: false, writable: false, error: false, hup: false };
  readinessCalls = 0;
  #fns = new Set<() => void>();
  get watchers(): number {
    return this.#fns.size;
  }
  readiness(): Readiness {
    this.readinessCalls++;
    return this.state;
  }
  watch(fn: () => void): () => void {
    this.#fns.add(fn);
    return () => this.#fns.delete(fn);
  }
  set(state: Partial<Readiness>): void {
    this.state = { ...this.state, ...state };
    for (const fn of [...this.#fns]) fn();
  }
}

async function rejectsWith(promise: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(within(promise, 10_000, `a ${code} rejection`), (e: unknown) => {
    assert.ok(e instanceof NetError, `expected a NetError, got ${e}`);
    assert.equal(e.code, code);
    if (message) assert.match(e.message, message);
    return true;
  });
}

describe("FdSet", () => {
  test("holds 64 sockets by default, and the 65th add throws a clear RangeError", () => {
    const set = new FdSet();
    assert.equal(set.setSize, FD_SETSIZE);
    assert.equal(FD_SETSIZE, 64);
    for (let i = 0; i < 64; i++) set.add(new FakeCore());
    assert.equal(set.size, 64);
    assert.throws(() => set.add(new FakeCore()), (e: unknown) => {
      assert.ok(e instanceof RangeError);
      assert.match(e.message, /Too many sockets for select: adding socket number 65 exceeds the set size of 64/);
      assert.match(e.message, /FD_SETSIZE/);
      return true;
    });
    assert.equal(set.size, 64, "the failed add changed nothing");
  });

  test("setSize raises the cap, and bad sizes are rejected", () => {
    const big = new FdSet({ setSize: 100 });
    for (let i = 0; i < 100; i++) big.add(new FakeCore());
    assert.throws(() => big.add(new FakeCore()), /exceeds the set size of 100/);
    assert.throws(() => new FdSet({ setSize: 0 }), RangeError);
    assert.throws(() => new FdSet({ setSize: 1.5 }), RangeError);
    assert.throws(() => new FdSet([], { setSize: -1 }), RangeError);
  });

  test("FD_SET, FD_CLR, FD_ISSET, FD_ZERO, fd_count and copies", () => {
    const a = new FakeCore();
    const b = new FakeCore();
    const c = new FakeCore();
    const set = new FdSet([a, b], { setSize: 3 });
    set.add(a); // already in: nothing happens
    assert.equal(set.size, 2);
    assert.ok(set.has(a) && set.has(b) && !set.has(c));
    assert.equal(set.delete(a), true);
    assert.equal(set.delete(a), false);
    set.add(c).add(a);
    assert.deepEqual([...set], [b, c, a], "kept in the order added");
    assert.equal(set.at(1), c);
    const copy = new FdSet(set);
    assert.equal(copy.setSize, 3, "a copy keeps the set size");
    set.clear();
    assert.equal(set.size, 0);
    assert.equal(copy.size, 3, "the copy is independent");
    assert.throws(() => set.add({} as unknown as FakeCore), TypeError);
  });

  test("a set emptied and filled again on every pass knows exactly its current members", () => {
    const cores = Array.from({ length: 200 }, () => new FakeCore());
    const set = new FdSet<FakeCore>({ setSize: 200 });
    for (let pass = 0; pass < 50; pass++) {
      set.clear();
      // Every pass holds a different half of the cores, in a different order.
      const members = cores.filter((_, i) => (i + pass) % 2 === 0).reverse();
      for (const core of members) set.add(core).add(core);
      assert.equal(set.size, members.length);
      assert.deepEqual([...set], members);
      for (let i = 0; i < cores.length; i++) assert.equal(set.has(cores[i]), (i + pass) % 2 === 0, `pass ${pass}`);
      assert.equal(set.at(members.length), undefined);
      assert.equal(set.at(-1), undefined);
    }
    assert.equal(set.delete(cores[1]), true);
    assert.equal(set.has(cores[1]), false);
    assert.equal(set.at(set.size), undefined);
  });

  test("a socket and its core are the same member", async () => {
    const memory = createMemoryTransport();
    const p = await pair(memory);
    try {
      const set = new FdSet<Watchable | NonBlockingSocket>([p.client]);
      assert.ok(set.has(p.client.core));
      set.add(p.client.core);
      assert.equal(set.size, 1);
      assert.equal(set.delete(p.client.core), true);
      assert.equal(set.size, 0);
    } finally {
      await p.close();
    }
  });
});

describe("select, poll and Selector argument checks and subscriptions", () => {
  test("select needs a socket, and rejects bad timeouts", () => {
    assert.throws(() => select(null, new FdSet(), undefined), /at least one socket/);
    const set = new FdSet([new FakeCore()]);
    assert.throws(() => select(set, null, null, { timeoutMs: -1 }), RangeError);
    assert.throws(() => select(set, null, null, { timeoutMs: Number.NaN }), TypeError);
    assert.throws(() => select(set, null, null, { timeoutMs: 2 ** 31 }), RangeError);
  });

  test("select unsubscribes from every core when it returns; poll keeps one subscription per recent array", async () => {
    const cores = Array.from({ length: 10 }, () => new FakeCore());
    // A timeout.
    assert.equal(await select(new FdSet(cores), new FdSet(cores.slice(0, 3)), null, { timeoutMs: 20 }), 0);
    assert.ok(cores.every((c) => c.watchers === 0));
    // A change.
    const readSet = new FdSet(cores);
    const pending = select(readSet, null, null);
    await sleep(10);
    assert.ok(cores.every((c) => c.watchers === 1), "one subscription per core while waiting");
    cores[7].set({ readable: true });
    assert.equal(await within(pending, 5000, "select"), 1);
    assert.deepEqual([...readSet], [cores[7]]);
    assert.ok(cores.every((c) => c.watchers === 0));
    // poll, with an abort. The array's subscriptions outlive the call, so that a loop polling
    // the same array subscribes each socket once, not once per call.
    const controller = new AbortController();
    const fds: PollFd[] = cores.map((socket) => ({ socket, events: POLLOUT, revents: 0 }));
    const polled = poll(fds, -1, { signal: controller.signal });
    await sleep(10);
    assert.ok(cores.every((c) => c.watchers === 1));
    controller.abort();
    await rejectsWith(polled, "ECANCELED");
    assert.ok(cores.every((c) => c.watchers === 1), "kept for the next call on this array");
    // The next call on the same array, woken by a change, adds nothing.
    const again = poll(fds, -1);
    await sleep(10);
    assert.ok(cores.every((c) => c.watchers === 1), "one subscription per core, not one per call");
    cores[2].set({ writable: true });
    assert.equal(await within(again, 5000, "poll"), 1);
    assert.equal(fds[2].revents, POLLOUT);
    cores[2].set({ writable: false });
    // An entry set to null, or taken out of the array, is unsubscribed at the next sleep.
    fds[0].socket = null;
    fds.pop();
    assert.equal(await poll(fds, 20), 0);
    assert.equal(cores[0].watchers, 0);
    assert.equal(cores[9].watchers, 0);
    assert.ok(cores.slice(1, 9).every((c) => c.watchers === 1));
    // A socket named twice in one array is subscribed once, and stays so while one entry names it.
    fds[0].socket = cores[1];
    assert.equal(await poll(fds, 20), 0);
    assert.equal(cores[1].watchers, 1);
    fds[0].socket = null;
    assert.equal(await poll(fds, 20), 0);
    assert.equal(cores[1].watchers, 1);
    // Polling enough other arrays drops this one's subscriptions.
    for (let i = 0; i < 8; i++) {
      assert.equal(await poll([{ socket: new FakeCore(), events: POLLIN, revents: 0 }], 1), 0);
    }
    assert.ok(cores.every((c) => c.watchers === 0), "an array no longer polled holds on to nothing");
    // An abort before the first check.
    const early = new AbortController();
    const selected = select(new FdSet(cores), null, null, { signal: early.signal });
    const polledEarly = poll(fds, 1000, { signal: early.signal });
    early.abort();
    await rejectsWith(selected, "ECANCELED");
    await rejectsWith(polledEarly, "ECANCELED");
    assert.ok(cores.every((c) => c.watchers === 0));
  });

  test("Selector.wait costs O(ready): it never looks at sockets that did not change", async () => {
    const cores = Array.from({ length: 2000 }, () => new FakeCore());
    for (const mode of ["level", "edge"] as const) {
      const selector = new Selector<FakeCore, number>({ mode });
      cores.forEach((c, i) => selector.register(c, POLLIN, i));
      for (const c of cores) c.readinessCalls = 0;
      cores[1234].set({ readable: true });
      const events = await within(selector.wait({ timeoutMs: 1000 }), 5000, "wait");
      assert.deepEqual(events.map((e) => e.data), [1234]);
      const looked = cores.reduce((n, c) => n + c.readinessCalls, 0);
      assert.ok(looked <= 3, `${mode}: looked at ${looked} cores for one ready socket`);
      selector.close();
      assert.ok(cores.every((c) => c.watchers === 0), "close unsubscribes everything");
      cores[1234].set({ readable: false });
    }
  });
});

const transports: [string, () => Promise<Transport>][] = [
  ["runtime", () => defaultTransport()],
  ["memory", () => Promise.resolve(createMemoryTransport())],
];

for (const [name, makeTransport] of transports) {
  describe(`select on the ${name} transport`, () => {
    test("times out with 0 after about timeoutMs and empties the sets", async () => {
      const p = await pair(await makeTransport());
      try {
        const readSet = new FdSet([p.server, p.listener]);
        const t0 = performance.now();
        const n = await select(readSet, null, null, { timeoutMs: 120 });
        const elapsed = performance.now() - t0;
        assert.equal(n, 0);
        assert.equal(readSet.size, 0);
        assert.ok(elapsed >= 110, `returned after ${elapsed.toFixed(0)} ms`);
        assert.ok(elapsed < 3000, `returned after ${elapsed.toFixed(0)} ms`);
        // timeoutMs 0 polls.
        const again = new FdSet([p.server]);
        assert.equal(await select(again, null, null, { timeoutMs: 0 }), 0);
      } finally {
        await p.close();
      }
    });

    test("readable on data, on EOF, and on a pending connection; only ready sockets stay", async () => {
      const transport = await makeTransport();
      const p = await pair(transport);
      try {
        const readSet = new FdSet<NonBlockingSocket | NonBlockingListener>([p.listener, p.server, p.client]);
        const waiting = select(readSet, null, null, { timeoutMs: 10_000 });
        p.client.trySend(text("hello"));
        assert.equal(await within(waiting, 10_000, "data"), 1);
        assert.deepEqual([...readSet], [p.server]);
        assert.equal(drain(p.server), 5);

        // EOF: the peer's FIN makes the socket readable, and recv returns 0.
        readSet.clear();
        readSet.add(p.server).add(p.listener);
        const eof = select(readSet, null, null, { timeoutMs: 10_000 });
        p.client.shutdown();
        assert.equal(await within(eof, 10_000, "EOF"), 1);
        assert.ok(readSet.has(p.server));
        assert.equal(p.server.tryRecv(new Uint8Array(8)), 0);

        // A connection waiting to be accepted.
        const onListener = new FdSet<NonBlockingSocket | NonBlockingListener>([p.listener]);
        const accept = select(onListener, null, null, { timeoutMs: 10_000 });
        const other = await NonBlockingSocket.connect("127.0.0.1", p.listener.addr.port, { transport });
        assert.equal(await within(accept, 10_000, "accept"), 1);
        assert.ok(onListener.has(p.listener));
        const accepted = p.listener.tryAccept();
        assert.notEqual(accepted, WOULD_BLOCK);
        // Resetting the accepted side before the connect resolves trips a Bun transport race.
        await within(other.core.connected(), 10_000, "connect");
        other.reset();
        (accepted as NonBlockingSocket).reset();
      } finally {
        await p.close();
      }
    });

    test("writable once a non-blocking connect finishes; the count covers every set", async () => {
      const transport = await makeTransport();
      const listener = await NonBlockingListener.listen({ transport, hostname: "127.0.0.1", port: 0 });
      try {
        const sock = await NonBlockingSocket.connect("127.0.0.1", listener.addr.port, { transport });
        assert.equal(sock.trySend(text("x")), WOULD_BLOCK, "still connecting");
        const writeSet = new FdSet([sock]);
        const exceptSet = new FdSet([sock]);
        assert.equal(await within(select(null, writeSet, exceptSet), 10_000, "connect"), 1);
        assert.ok(writeSet.has(sock));
        assert.equal(exceptSet.size, 0);
        assert.ok(sock.connected);
        // Ready in two sets counts twice.
        const peer = await acceptOne(listener);
        sock.trySend(text("abc"));
        const r = new FdSet([peer]);
        const w = new FdSet([peer]);
        await waitUntil(peer.core, () => peer.core.available > 0, { timeoutMs: 10_000 });
        assert.equal(await select(r, w, null, { timeoutMs: 0 }), 2);
        sock.reset();
        peer.reset();
      } finally {
        await listener.close();
      }
    });

    test("writable again after the send queue drains", async () => {
      const p = await pair(await makeTransport(), { clientSend: 8 * 1024 });
      try {
        assert.ok(fill(p.client) > 0);
        assert.equal(p.client.trySend(text("more")), WOULD_BLOCK);
        const writeSet = new FdSet([p.client]);
        assert.equal(await within(select(null, writeSet, null), 10_000, "drain"), 1);
        assert.ok(writeSet.has(p.client));
        assert.notEqual(p.client.trySend(text("more")), WOULD_BLOCK);
      } finally {
        await p.close();
      }
    });

    test("a refused connect shows in the except set, not the write set", async () => {
      const transport = await makeTransport();
      const sock = await NonBlockingSocket.connect("127.0.0.1", await deadPort(transport), { transport });
      const writeSet = new FdSet([sock]);
      const exceptSet = new FdSet([sock]);
      assert.equal(await within(select(null, writeSet, exceptSet, { timeoutMs: 10_000 }), 10_000, "refusal"), 1);
      assert.equal(writeSet.size, 0);
      assert.ok(exceptSet.has(sock));
      assert.throws(() => sock.trySend(text("x")), (e: unknown) => e instanceof NetError && e.code === "ECONNREFUSED");
    });

    test("a socket closed locally is not a socket: EINVAL (WSAENOTSOCK), at the call or during the wait", async () => {
      const p = await pair(await makeTransport());
      try {
        const closed = await NonBlockingSocket.connect("127.0.0.1", p.listener.addr.port, {
          transport: await makeTransport(),
        });
        await closed.close();
        await rejectsWith(select(new FdSet([p.server, closed]), null, null), "EINVAL", /WSAENOTSOCK/);
        const waiting = select(new FdSet([p.server]), null, null, { timeoutMs: 10_000 });
        setTimeout(() => void p.server.close(), 20);
        await rejectsWith(waiting, "EINVAL", /closed locally/);
      } finally {
        await p.close();
      }
    });

    test("an abort signal rejects with ECANCELED and leaves the sets alone", async () => {
      const p = await pair(await makeTransport());
      try {
        const readSet = new FdSet([p.server]);
        const controller = new AbortController();
        const waiting = select(readSet, null, null, { signal: controller.signal });
        setTimeout(() => controller.abort(), 20);
        await rejectsWith(waiting, "ECANCELED");
        assert.ok(readSet.has(p.server));
        await rejectsWith(select(readSet, null, null, { signal: controller.signal }), "ECANCELED");
      } finally {
        await p.close();
      }
    });
  });

  describe(`poll on the ${name} transport`, () => {
    test("POLLIN on data and EOF, POLLOUT while there is room, count of ready entries", async () => {
      const p = await pair(await makeTransport());
      try {
        const fds: PollFd[] = [
          { socket: p.server, events: POLLIN, revents: 0 },
          { socket: p.client, events: POLLIN | POLLOUT, revents: 0 },
          { socket: null, events: POLLIN, revents: 99 },
          { socket: p.listener, events: POLLIN, revents: 0 },
        ];
        assert.equal(await poll(fds, 0), 1, "only the client, writable");
        assert.equal(fds[1].revents, POLLWRNORM);
        assert.equal(fds[2].revents, 0, "a null entry is skipped");
        p.client.trySend(text("ping"));
        fds[1].events = POLLIN; // POLLOUT off: nothing is pending
        assert.equal(await within(poll(fds, 10_000), 10_000, "data"), 1);
        assert.equal(fds[0].revents, POLLRDNORM);
        assert.ok(fds[0].revents & POLLIN);
        assert.equal(fds[1].revents, 0);
        drain(p.server);
        assert.equal(await poll(fds, 30), 0, "level-triggered: nothing left");
        p.client.shutdown();
        assert.equal(await within(poll(fds, 10_000), 10_000, "EOF"), 1);
        assert.equal(fds[0].revents & POLLIN, POLLRDNORM);
        assert.equal(fds[0].revents & POLLHUP, 0, "the other direction is still open");
        assert.equal(p.server.tryRecv(new Uint8Array(4)), 0);
      } finally {
        await p.close();
      }
    });

    test("POLLHUP once both sides have shut down, POLLNVAL once closed locally", async () => {
      const p = await pair(await makeTransport());
      try {
        p.client.shutdown();
        p.server.shutdown();
        const fds: PollFd[] = [{ socket: p.server, events: 0, revents: 0 }];
        assert.equal(await within(poll(fds, 10_000), 10_000, "hang-up"), 1);
        assert.ok(fds[0].revents & POLLHUP, `revents ${fds[0].revents}`);
        assert.equal(fds[0].revents & POLLERR, 0);
        await p.client.close();
        const nval: PollFd[] = [
          { socket: p.client, events: POLLIN | POLLOUT, revents: 0 },
          { socket: p.listener, events: POLLIN, revents: 0 },
        ];
        assert.equal(await poll(nval, 1000), 1);
        assert.equal(nval[0].revents, POLLNVAL);
        await p.listener.close();
        assert.equal(await poll(nval, 0), 2);
        assert.equal(nval[1].revents, POLLNVAL);
      } finally {
        await p.close();
      }
    });

    test("POLLERR on a refused connect, and POLLERR | POLLHUP on a reset", async () => {
      const transport = await makeTransport();
      const refused = await NonBlockingSocket.connect("127.0.0.1", await deadPort(transport), { transport });
      const fds: PollFd[] = [{ socket: refused, events: POLLOUT, revents: 0 }];
      assert.equal(await within(poll(fds), 10_000, "refusal"), 1);
      assert.ok(fds[0].revents & POLLERR);
      assert.equal(fds[0].revents & POLLOUT, 0);

      if (transport.name !== "memory" && !transport.capabilities.reset) return; // no RST here
      const p = await pair(transport);
      try {
        const entry: PollFd = { socket: p.server, events: POLLIN, revents: 0 };
        const waiting = poll([entry], 10_000);
        if (transport.name === "memory") (p.client.core.stream as MemoryStream).injectReset();
        else p.client.reset();
        assert.equal(await within(waiting, 10_000, "reset"), 1);
        await waitUntil(p.server.core, () => p.server.core.streamClosed, { timeoutMs: 10_000 });
        await poll([entry], 0);
        assert.equal(entry.revents & (POLLERR | POLLHUP), POLLERR | POLLHUP, `revents ${entry.revents}`);
        assert.throws(() => p.server.tryRecv(new Uint8Array(4)), (e: unknown) => e instanceof NetError);
      } finally {
        await p.close();
      }
    });

    test("an abort signal rejects with ECANCELED", async () => {
      const p = await pair(await makeTransport());
      try {
        const controller = new AbortController();
        const waiting = poll([{ socket: p.server, events: POLLIN, revents: 0 }], undefined, {
          signal: controller.signal,
        });
        setTimeout(() => controller.abort(new Error("stop")), 20);
        await rejectsWith(waiting, "ECANCELED");
      } finally {
        await p.close();
      }
    });
  });

  describe(`Selector on the ${name} transport`, () => {
    test("level-triggered: reported again while data remains", async () => {
      const p = await pair(await makeTransport());
      const selector = new Selector<NonBlockingSocket, string>();
      try {
        selector.register(p.server, POLLIN, "server");
        assert.deepEqual(await selector.wait({ timeoutMs: 0 }), []);
        p.client.trySend(text("abcdef"));
        const first = await within(selector.wait(), 10_000, "data");
        assert.equal(first.length, 1);
        assert.equal(first[0].socket, p.server);
        assert.equal(first[0].data, "server");
        assert.equal(first[0].events, POLLRDNORM);
        assert.equal(p.server.tryRecv(new Uint8Array(2)), 2);
        const again = await selector.wait({ timeoutMs: 0 });
        assert.equal(again.length, 1, "still readable, so reported again");
        drain(p.server);
        assert.deepEqual(await selector.wait({ timeoutMs: 30 }), [], "drained: no longer reported");
      } finally {
        selector.close();
        await p.close();
      }
    });

    test("edge-triggered: reported once per arrival, however much is left unread", async () => {
      const p = await pair(await makeTransport());
      const selector = new Selector<NonBlockingSocket, string>({ mode: "edge" });
      try {
        selector.register(p.server, POLLIN, "server");
        p.client.trySend(text("abcdef"));
        const first = await within(selector.wait(), 10_000, "data");
        assert.equal(first.length, 1);
        assert.equal(p.server.tryRecv(new Uint8Array(2)), 2, "read only part of it");
        assert.deepEqual(await selector.wait({ timeoutMs: 50 }), [], "no new event for the rest");
        p.client.trySend(text("g"));
        const second = await within(selector.wait(), 10_000, "new data");
        assert.equal(second.length, 1, "new data, new event");
        // The drain pattern: recv until WOULD_BLOCK.
        let got = "";
        const buf = new Uint8Array(3);
        for (let n = p.server.tryRecv(buf); n !== WOULD_BLOCK; n = p.server.tryRecv(buf)) {
          got += new TextDecoder().decode(buf.subarray(0, n));
        }
        assert.equal(got, "cdefg");
      } finally {
        selector.close();
        await p.close();
      }
    });

    test("edge-triggered POLLOUT: once at registration, then once per drain", async () => {
      const p = await pair(await makeTransport(), { clientSend: 8 * 1024 });
      const selector = new Selector<NonBlockingSocket>({ mode: "edge" });
      try {
        selector.register(p.client, POLLOUT);
        const initial = await selector.wait({ timeoutMs: 0 });
        assert.equal(initial.length, 1);
        assert.equal(initial[0].events, POLLWRNORM);
        assert.deepEqual(await selector.wait({ timeoutMs: 30 }), [], "still writable, but no change");
        fill(p.client);
        const drained = await within(selector.wait(), 10_000, "drain");
        assert.equal(drained.length, 1);
        assert.ok(drained[0].events & POLLOUT);
      } finally {
        selector.close();
        await p.close();
      }
    });

    test("modify changes interest and data; unregister stops events; rules on misuse", async () => {
      const p = await pair(await makeTransport());
      const selector = new Selector<NonBlockingSocket, string>();
      try {
        selector.register(p.server, POLLIN, "reading");
        assert.throws(() => selector.register(p.server, POLLIN), /registered already/);
        assert.throws(() => selector.register(p.client, 0x8000), RangeError);
        assert.deepEqual(await selector.wait({ timeoutMs: 0 }), []);
        selector.modify(p.server, POLLIN | POLLOUT, "writing");
        const w = await selector.wait({ timeoutMs: 0 });
        assert.equal(w.length, 1);
        assert.equal(w[0].events, POLLWRNORM);
        assert.equal(w[0].data, "writing");
        selector.modify(p.server, POLLIN); // data kept when omitted
        assert.deepEqual(await selector.wait({ timeoutMs: 20 }), []);
        p.client.trySend(text("x"));
        const r = await within(selector.wait(), 10_000, "data");
        assert.equal(r[0].data, "writing");
        assert.equal(selector.unregister(p.server), true);
        assert.equal(selector.unregister(p.server), false);
        assert.equal(selector.size, 0);
        p.client.trySend(text("y"));
        assert.deepEqual(await selector.wait({ timeoutMs: 50 }), []);
        assert.throws(() => selector.modify(p.server, POLLIN), /not registered/);
        // A socket closed locally leaves by itself, and cannot be registered.
        selector.register(p.server, POLLIN);
        await p.server.close();
        assert.equal(selector.size, 0);
        assert.throws(
          () => selector.register(p.server, POLLIN),
          (e: unknown) => e instanceof NetError && e.code === "EINVAL",
        );
      } finally {
        selector.close();
        await p.close();
      }
    });

    test("maxEvents caps one wait; the rest come next, in turn", async () => {
      const transport = await makeTransport();
      const pairs = await Promise.all([pair(transport), pair(transport), pair(transport)]);
      const selector = new Selector<NonBlockingSocket, number>();
      try {
        pairs.forEach((p, i) => selector.register(p.server, POLLIN, i));
        for (const p of pairs) p.client.trySend(text("z"));
        for (const p of pairs) await waitUntil(p.server.core, () => p.server.core.available > 0, { timeoutMs: 10_000 });
        const a = await selector.wait({ maxEvents: 2 });
        const b = await selector.wait({ maxEvents: 2 });
        assert.equal(a.length, 2);
        assert.equal(b.length, 2);
        assert.ok(b.some((e) => !a.some((x) => x.data === e.data)), "the third socket gets its turn");
        assert.throws(() => selector.wait({ maxEvents: 0 }), RangeError);
      } finally {
        selector.close();
        await Promise.all(pairs.map((p) => p.close()));
      }
    });

    test("abort rejects with ECANCELED; close rejects a pending wait and later calls", async () => {
      const p = await pair(await makeTransport());
      const selector = new Selector<NonBlockingSocket>();
      selector.register(p.server, POLLIN);
      try {
        const controller = new AbortController();
        const waiting = selector.wait({ signal: controller.signal });
        setTimeout(() => controller.abort(), 20);
        await rejectsWith(waiting, "ECANCELED");
        const pending = selector.wait();
        selector.close();
        await rejectsWith(pending, "ECANCELED", /closed/);
        await rejectsWith(selector.wait(), "EINVAL", /closed/);
        assert.throws(() => selector.register(p.client, POLLIN), /closed/);
      } finally {
        selector.close();
        await p.close();
      }
    });
  });
}

// ---- the examples -------------------------------------------------------------------------

type StartEcho = (options: EchoServerOptions) => Promise<EchoServer>;

function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.byteLength);
  new DataView(out.buffer).setUint32(0, payload.byteLength);
  out.set(payload, 4);
  return out;
}

async function roundTrip(transport: Transport, port: number, wire: Uint8Array): Promise<Uint8Array> {
  const client: Stream = await transport.connect({ hostname: "127.0.0.1", port, allowHalfOpen: true });
  const side = observe(client);
  client.write(wire.subarray(0, 7));
  await sleep(5);
  client.write(wire.subarray(7));
  client.end();
  const error = await within(side.closed, 30_000, "the echo");
  assert.equal(error, undefined, `the connection failed: ${error?.message}`);
  return concat(side.chunks);
}

const examples: [string, StartEcho][] = [
  ["echo_select", startSelectEcho],
  ["echo_poll", startPollEcho],
  ["echo_selector", startSelectorEcho],
];
const exampleTransports: [string, () => Promise<Transport>][] = [
  ["runtime", () => defaultTransport()],
  ["memory, 1-byte chunks", () => Promise.resolve(createMemoryTransport({ chunkSize: 1 }))],
];

describe("the select, poll and Selector echo examples", () => {
  for (const [example, startEcho] of examples) {
    for (const [transportName, makeTransport] of exampleTransports) {
      for (const framing of ["raw", "lp4"] as EchoFraming[]) {
        test(`${example} echoes (${framing}, ${transportName})`, async () => {
          const transport = await makeTransport();
          const server = await startEcho({ transport, hostname: "127.0.0.1", port: 0, framing });
          try {
            const payloads = [randomBytes(300), new Uint8Array(0), randomBytes(1), randomBytes(2000)];
            const wire = framing === "lp4" ? concat(payloads.map(frame)) : concat(payloads);
            const [a, b] = await Promise.all([
              roundTrip(transport, server.addr.port, wire),
              roundTrip(transport, server.addr.port, wire),
            ]);
            assert.deepEqual(a, wire);
            assert.deepEqual(b, wire);
          } finally {
            await within(server.close(), 10_000, "the server to close");
          }
        });
      }
    }
  }

  test("echo_select serves more sockets than its setSize, in groups", async () => {
    for (const [, makeTransport] of exampleTransports) {
      const transport = await makeTransport();
      const server = await startEcho4(transport);
      try {
        // All 13 clients are connected at once: 14 sockets, over 4 groups of 4.
        const clients = await Promise.all(
          Array.from(
            { length: 13 },
            () => transport.connect({ hostname: "127.0.0.1", port: server.addr.port, allowHalfOpen: true }),
          ),
        );
        const sides = clients.map((c) => observe(c));
        await sleep(50);
        const wires = clients.map((c, i) => {
          const wire = concat([frame(randomBytes(50 + i)), frame(randomBytes(3))]);
          c.write(wire);
          c.end();
          return wire;
        });
        const results = await Promise.all(sides.map(async (side, i) => {
          assert.equal(await within(side.closed, 30_000, "the echo"), undefined);
          return [wires[i], concat(side.chunks)] as const;
        }));
        for (const [sent, echoed] of results) assert.deepEqual(echoed, sent);
      } finally {
        await within(server.close(), 10_000, "the server to close");
      }
    }
  });
  test("a select group whose clients all left starts again when a new client joins it", async () => {
    const transport = await defaultTransport();
    // setSize 2: the first group holds the listener and one client, the second two clients.
    const server = await startSelectEcho({ transport, hostname: "127.0.0.1", port: 0, framing: "lp4", setSize: 2 });
    const echoOnce = async (stream: Stream, size: number): Promise<void> => {
      const side = observe(stream);
      const wire = frame(randomBytes(size));
      stream.write(wire);
      await within(until(() => side.bytes >= wire.byteLength, "the echo"), 10_000, "the echo");
      assert.deepEqual(concat(side.chunks), wire);
    };
    try {
      const connect = () => transport.connect({ hostname: "127.0.0.1", port: server.addr.port });
      const [first, second, third] = [await connect(), await connect(), await connect()];
      await echoOnce(first, 10);
      await echoOnce(second, 20);
      await echoOnce(third, 30);
      await second.close();
      await third.close();
      await sleep(50); // the second group empties, and its loop ends
      const fourth = await connect();
      await echoOnce(fourth, 40);
      await echoOnce(first, 50);
      await Promise.all([first.close(), fourth.close()]);
    } finally {
      await within(server.close(), 10_000, "the server to close");
    }
  });
});

function startEcho4(transport: Transport): Promise<EchoServer> {
  return startSelectEcho({ transport, hostname: "127.0.0.1", port: 0, framing: "lp4", setSize: 4 });
}
