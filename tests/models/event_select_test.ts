import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { NetError } from "../../src/runtime/errors.ts";
import {
  closeEvent,
  createEvent,
  enumNetworkEvents,
  eventSelect,
  FD_ACCEPT,
  FD_CLOSE,
  FD_CLOSE_BIT,
  FD_CONNECT,
  FD_CONNECT_BIT,
  FD_MAX_EVENTS,
  FD_READ,
  FD_WRITE,
  NetworkEventRecorder,
  resetEvent,
  setEvent,
  WAIT_OBJECT_0,
  WAIT_TIMEOUT,
  waitForMultipleEvents,
  WSA_MAXIMUM_WAIT_EVENTS,
  type WsaEvent,
} from "../../src/models/event_select.ts";
import { stateOf } from "../../src/models/_wsa_event.ts";
import { EventWaitGroups } from "../../src/hosts/_event_wait_groups.ts";
import { NonBlockingListener, NonBlockingSocket, WOULD_BLOCK } from "../../src/models/nonblocking.ts";
import { defaultTransport } from "../../src/runtime/detect.ts";
import { createMemoryTransport } from "../../src/runtime/memory.ts";
import type { Stream, Transport } from "../../src/runtime/types.ts";
import { type EchoServerOptions, startEcho as startModelEcho } from "../../src/apps/echo.ts";
import { startBroadcastChat } from "../../src/apps/chat/broadcast_chat.ts";

const startEcho = (options: EchoServerOptions) => startModelEcho("event-select", options);
const startChat = (options: EchoServerOptions) => startBroadcastChat("event-select", options);
import { concat, observe, randomBytes, sleep, within } from "../helpers/net.ts";

/** The subscriptions an event holds: one entry per entry of an array waited on that names it. */
function subscribers(event: WsaEvent) {
  return stateOf(event, "event").subscribers;
}

async function waitFor(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await sleep(2);
  }
}

function waitEvent(event: WsaEvent, what: string, ms = 5000): Promise<number> {
  return within(waitForMultipleEvents([event], { timeoutMs: ms + 1000 }), ms, what);
}

async function connectedPair(
  transport: Transport,
  listenOptions: { receiveBufferSize?: number; sendBufferSize?: number } = {},
  connectOptions: { receiveBufferSize?: number; sendBufferSize?: number } = {},
) {
  const listener = await NonBlockingListener.listen({ transport, port: 0, ...listenOptions });
  const client = await NonBlockingSocket.connect("127.0.0.1", listener.addr.port, { transport, ...connectOptions });
  await waitFor(() => listener.core.pending > 0 && client.connected, "the connection");
  const server = listener.tryAccept();
  assert.ok(server !== WOULD_BLOCK);
  return {
    listener,
    client,
    server,
    async close() {
      client.reset();
      server.reset();
      await listener.close();
    },
  };
}

const transports: [string, () => Promise<Transport>][] = [
  ["native", () => defaultTransport()],
  ["memory", () => Promise.resolve(createMemoryTransport())],
];

describe("event objects and waitForMultipleEvents", () => {
  test("a wait times out with WAIT_TIMEOUT, and timeout 0 only checks", async () => {
    const events = [createEvent(), createEvent()];
    const started = Date.now();
    assert.equal(await waitForMultipleEvents(events, { timeoutMs: 40 }), WAIT_TIMEOUT);
    assert.ok(Date.now() - started >= 35, "the wait lasted about the timeout");
    assert.equal(await waitForMultipleEvents(events, { timeoutMs: 0 }), WAIT_TIMEOUT);
    setEvent(events[1]);
    assert.equal(await waitForMultipleEvents(events, { timeoutMs: 0 }), WAIT_OBJECT_0 + 1);
  });

  test("the lowest signalled index wins, and events stay set until reset (manual reset)", async () => {
    const events = Array.from({ length: 6 }, () => createEvent());
    setEvent(events[4]);
    setEvent(events[2]);
    assert.equal(await waitForMultipleEvents(events), WAIT_OBJECT_0 + 2);
    assert.equal(await waitForMultipleEvents(events), WAIT_OBJECT_0 + 2, "the wait does not reset the event");
    assert.equal(resetEvent(events[2]), true);
    assert.equal(await waitForMultipleEvents(events), WAIT_OBJECT_0 + 4);
    resetEvent(events[4]);
    const pending = waitForMultipleEvents(events, { timeoutMs: 5000 });
    setEvent(events[5]);
    setEvent(events[1]);
    assert.equal(await pending, WAIT_OBJECT_0 + 5, "the first event set satisfies a pending wait");
  });

  test("waitAll resolves only once every event is signalled at the same time", async () => {
    const events = [createEvent(), createEvent(), createEvent()];
    setEvent(events[0]);
    setEvent(events[2]);
    assert.equal(await waitForMultipleEvents(events, { waitAll: true, timeoutMs: 30 }), WAIT_TIMEOUT);
    const pending = waitForMultipleEvents(events, { waitAll: true, timeoutMs: 5000 });
    resetEvent(events[0]);
    setEvent(events[1]);
    await sleep(10);
    setEvent(events[0]);
    assert.equal(await pending, WAIT_OBJECT_0);
  });

  test("a quiet event keeps one subscription however often a busy one ends the waits", async () => {
    const quiet = createEvent();
    const busy = createEvent();
    const ac = new AbortController();
    for (let i = 0; i < 5000; i++) {
      // A new array of the same events each time, as `waitForMultipleEvents([a, b])` makes.
      const pending = waitForMultipleEvents([quiet, busy], { signal: ac.signal, timeoutMs: 5000 });
      setEvent(busy);
      assert.equal(await pending, WAIT_OBJECT_0 + 1);
      resetEvent(busy);
    }
    assert.equal(subscribers(quiet).length, 1, "the waits share one subscription");
    assert.equal(subscribers(busy).length, 1);
    // The waits that ended are not woken again: a later set wakes only the wait pending now.
    const last = waitForMultipleEvents([quiet], { timeoutMs: 5000 });
    assert.equal(subscribers(busy).length, 0, "a wait on other events released the idle subscription");
    setEvent(quiet);
    assert.equal(await last, WAIT_OBJECT_0);
    assert.deepEqual(subscribers(quiet).map((s) => s.waiting), [false], "kept, idle, for the next wait");
  });

  test("a wait on the same event twice ends once, and a waitAll stays until all are set", async () => {
    const [a, b] = [createEvent(), createEvent()];
    const twice = waitForMultipleEvents([a, a], { timeoutMs: 5000 });
    const all = waitForMultipleEvents([a, b], { waitAll: true, timeoutMs: 5000 });
    setEvent(a);
    assert.equal(await twice, WAIT_OBJECT_0);
    assert.equal(subscribers(a).filter((s) => s.waiting).length, 1, "the waitAll stays on the set event");
    setEvent(b);
    assert.equal(await all, WAIT_OBJECT_0);
  });

  test("at most 64 events per wait; bad arguments are rejected clearly", async () => {
    const events = Array.from({ length: WSA_MAXIMUM_WAIT_EVENTS + 1 }, () => createEvent());
    assert.equal(WSA_MAXIMUM_WAIT_EVENTS, 64);
    assert.equal(await waitForMultipleEvents(events.slice(0, 64), { timeoutMs: 0 }), WAIT_TIMEOUT);
    await assert.rejects(
      waitForMultipleEvents(events),
      (e: unknown) => e instanceof RangeError && /65/.test(e.message) && /64/.test(e.message),
    );
    await assert.rejects(waitForMultipleEvents([]), RangeError);
    await assert.rejects(waitForMultipleEvents([events[0]], { timeoutMs: -1 }), RangeError);
    await assert.rejects(waitForMultipleEvents([{} as WsaEvent]), TypeError);
    closeEvent(events[3]);
    await assert.rejects(
      waitForMultipleEvents(events.slice(0, 5)),
      (e: unknown) => e instanceof TypeError && /index 3/.test(e.message),
    );
    assert.equal(setEvent(events[3]), false, "a closed event cannot be set");
    assert.equal(closeEvent(events[3]), false);
  });

  test("an aborted signal cancels the wait, and closing a waited event rejects it", async () => {
    const event = createEvent();
    const controller = new AbortController();
    const pending = waitForMultipleEvents([event], { signal: controller.signal });
    controller.abort();
    await assert.rejects(pending, (e: unknown) => e instanceof NetError && e.code === "ECANCELED");
    const other = waitForMultipleEvents([createEvent(), event]);
    closeEvent(event);
    await assert.rejects(other, (e: unknown) => e instanceof TypeError && /closed/.test(e.message));
  });

  test("the wait is on the events passed at the call, even if the caller's array changes after", async () => {
    const events = [createEvent(), createEvent(), createEvent()];
    const closing = events[2];
    const pending = waitForMultipleEvents(events);
    // A server that drops a client takes its event out of the array first, then closes it.
    events.splice(1, 2);
    closeEvent(closing);
    await assert.rejects(pending, {
      name: "TypeError",
      message: `The event at index 2 (event ${closing.id}) was closed during the wait`,
    });
  });
});

describe("the subscriptions kept between waits", () => {
  test("waiting again and again on one array subscribes each event once", async () => {
    const events = Array.from({ length: WSA_MAXIMUM_WAIT_EVENTS }, () => createEvent());
    const first = waitForMultipleEvents(events);
    const kept = subscribers(events[0])[0];
    setEvent(events[7]);
    assert.equal(await first, WAIT_OBJECT_0 + 7);
    resetEvent(events[7]);
    for (let i = 0; i < 1000; i++) {
      const pending = waitForMultipleEvents(events, { timeoutMs: 5000 });
      setEvent(events[(i * 13) % events.length]);
      assert.equal(await pending, WAIT_OBJECT_0 + (i * 13) % events.length);
      resetEvent(events[(i * 13) % events.length]);
    }
    for (const event of events) assert.deepEqual(subscribers(event), [kept], `event ${event.id}`);
    assert.equal(kept.waiting, false);
  });

  test("a signal between two waits is not lost, nor a reset between them ignored", async () => {
    const events = [createEvent(), createEvent(), createEvent(), createEvent()];
    const first = waitForMultipleEvents(events);
    setEvent(events[1]);
    assert.equal(await first, WAIT_OBJECT_0 + 1);
    resetEvent(events[1]);
    // While nobody waits, the subscription stays; the next wait sees what was set meanwhile.
    setEvent(events[3]);
    setEvent(events[2]);
    assert.equal(await waitForMultipleEvents(events, { timeoutMs: 5000 }), WAIT_OBJECT_0 + 2, "the lowest set");
    resetEvent(events[2]);
    resetEvent(events[3]);
    setEvent(events[0]);
    resetEvent(events[0]);
    assert.equal(await waitForMultipleEvents(events, { timeoutMs: 30 }), WAIT_TIMEOUT, "a reset event is not set");
    const late = waitForMultipleEvents(events, { timeoutMs: 5000 });
    setEvent(events[3]);
    assert.equal(await late, WAIT_OBJECT_0 + 3);
  });

  test("an auto-reset loop (wait, reset, wait) keeps every signal on a kept subscription", async () => {
    const [a, b] = [createEvent(), createEvent()];
    const events = [a, b];
    const seen: number[] = [];
    const loop = (async () => {
      while (seen.length < 6) {
        const index = (await waitForMultipleEvents(events, { timeoutMs: 5000 })) - WAIT_OBJECT_0;
        assert.notEqual(index, WAIT_TIMEOUT - WAIT_OBJECT_0, "no signal is lost");
        resetEvent(events[index]);
        seen.push(index);
      }
    })();
    for (let i = 0; i < 6; i++) {
      setEvent(events[i % 2]);
      await sleep(1);
    }
    await loop;
    assert.deepEqual(seen, [0, 1, 0, 1, 0, 1]);
  });

  test("closing an event drops its subscriptions; the next wait drops the events left out", async () => {
    const [a, b, c] = [createEvent(), createEvent(), createEvent()];
    const events = [a, b, c];
    const pending = waitForMultipleEvents(events);
    const kept = subscribers(a)[0];
    closeEvent(b);
    await assert.rejects(pending, {
      name: "TypeError",
      message: `The event at index 1 (event ${b.id}) was closed during the wait`,
    });
    assert.equal(subscribers(b).length, 0, "a closed event holds no subscription");
    events.splice(1, 1);
    const next = waitForMultipleEvents(events, { timeoutMs: 5000 });
    assert.deepEqual([subscribers(a), subscribers(c)], [[kept], [kept]], "the same subscription, moved along");
    setEvent(c);
    assert.equal(await next, WAIT_OBJECT_0 + 1);
    resetEvent(c);
    events.pop();
    assert.equal(await waitForMultipleEvents(events, { timeoutMs: 1 }), WAIT_TIMEOUT);
    assert.equal(subscribers(c).length, 0, "an event no longer waited on is released at the next wait");
    assert.deepEqual(subscribers(a), [kept]);
    closeEvent(a);
    assert.equal(subscribers(a).length, 0);
  });

  test("arrays that share an event keep one idle subscription on it, not one per array", async () => {
    const shared = createEvent();
    for (let i = 0; i < 200; i++) {
      const other = createEvent();
      assert.equal(await waitForMultipleEvents([shared, other], { timeoutMs: 1 }), WAIT_TIMEOUT);
      closeEvent(other);
    }
    assert.equal(subscribers(shared).length, 1);
    const fixed = [shared, createEvent()];
    for (let i = 0; i < 50; i++) {
      assert.equal(await waitForMultipleEvents(fixed, { timeoutMs: 1 }), WAIT_TIMEOUT);
      assert.equal(await waitForMultipleEvents([shared], { timeoutMs: 1 }), WAIT_TIMEOUT);
    }
    assert.equal(subscribers(shared).length, 1);
    assert.equal(subscribers(fixed[1]).length, 0, "the other array's idle subscription was released");
  });

  test("a second wait on a busy array gets a subscription of its own, released when it ends", async () => {
    const [a, b] = [createEvent(), createEvent()];
    const events = [a, b];
    const one = waitForMultipleEvents(events, { timeoutMs: 5000 });
    const two = waitForMultipleEvents(events, { timeoutMs: 5000 });
    assert.equal(subscribers(a).length, 2);
    setEvent(b);
    assert.deepEqual(await Promise.all([one, two]), [WAIT_OBJECT_0 + 1, WAIT_OBJECT_0 + 1]);
    await sleep(0);
    assert.equal(subscribers(a).length, 1);
    assert.equal(subscribers(b).length, 1);
  });

  test("every wait removes its abort listener when it ends, however it ends", async () => {
    const controller = new AbortController();
    const listening = countAbortListeners(controller.signal);
    const event = createEvent();
    for (let i = 0; i < 20; i++) {
      const pending = waitForMultipleEvents([event], { signal: controller.signal, timeoutMs: i % 2 === 0 ? 1 : 5000 });
      assert.equal(listening(), 1);
      if (i % 2 === 1) setEvent(event);
      assert.equal(await pending, i % 2 === 0 ? WAIT_TIMEOUT : WAIT_OBJECT_0);
      resetEvent(event);
      assert.equal(listening(), 0, `after wait ${i}`);
    }
    const closing = createEvent();
    const closed = waitForMultipleEvents([closing], { signal: controller.signal });
    closeEvent(closing);
    await assert.rejects(closed, TypeError);
    assert.equal(listening(), 0, "after a wait on a closed event");
  });

  test("the waiting groups hold at most one abort listener per signal, and closed members no subscription", async () => {
    const listenEvent = createEvent();
    const counts = new Map<AbortSignal, number>();
    const proto = AbortSignal.prototype as unknown as Record<string, unknown>;
    const add = EventTarget.prototype.addEventListener;
    const remove = EventTarget.prototype.removeEventListener;
    proto.addEventListener = function (this: AbortSignal, ...args: Parameters<typeof add>) {
      if (args[0] === "abort") counts.set(this, (counts.get(this) ?? 0) + 1);
      return add.apply(this, args);
    };
    proto.removeEventListener = function (this: AbortSignal, ...args: Parameters<typeof remove>) {
      if (args[0] === "abort") counts.set(this, (counts.get(this) ?? 0) - 1);
      return remove.apply(this, args);
    };
    try {
      const groups = new EventWaitGroups<{ event: WsaEvent }>(listenEvent, {
        onListenerEvent: () => resetEvent(listenEvent),
        onMemberEvent: (member) => resetEvent(member.event),
        isRemoved: () => false,
      });
      // 12 groups: Node warns (MaxListenersExceededWarning) at 11 listeners on one signal.
      const members = Array.from({ length: 12 * WSA_MAXIMUM_WAIT_EVENTS }, () => ({ event: createEvent() }));
      for (const member of members) groups.add(member);
      for (let round = 0; round < 3; round++) {
        await sleep(5);
        for (const member of members) setEvent(member.event);
      }
      await sleep(5);
      assert.ok([...counts.values()].every((n) => n <= 1), `abort listeners per signal: ${[...counts.values()]}`);
      for (const member of members.slice(0, 100)) groups.remove(member);
      await sleep(5);
      for (const member of members.slice(0, 100)) assert.equal(subscribers(member.event).length, 0);
      for (const member of members.slice(100)) assert.equal(subscribers(member.event).length, 1);
      await within(groups.stop(), 5000, "the loops to stop");
      closeEvent(listenEvent);
      for (const member of members.slice(100)) closeEvent(member.event);
      for (const member of members) assert.equal(subscribers(member.event).length, 0);
    } finally {
      delete proto.addEventListener;
      delete proto.removeEventListener;
    }
  });
});

/** The number of abort listeners that waits have on `signal` now. */
function countAbortListeners(signal: AbortSignal): () => number {
  let count = 0;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = (...args: Parameters<typeof add>) => {
    if (args[0] === "abort") count++;
    return add(...args);
  };
  signal.removeEventListener = (...args: Parameters<typeof remove>) => {
    if (args[0] === "abort") count--;
    return remove(...args);
  };
  return () => count;
}

for (const [name, make] of transports) {
  describe(`WSAEventSelect re-enabling rules over the ${name} transport`, () => {
    test("a recorder's sink is a function or an event to set; anything else is a TypeError", async () => {
      const pair = await connectedPair(await make());
      const event = createEvent();
      const recorder = NetworkEventRecorder.attach(pair.server, FD_READ, event);
      assert.equal(await waitEvent(event, "no event before data", 50).catch(() => -1), -1);
      pair.client.trySend(new Uint8Array([1]));
      assert.equal(await waitEvent(event, "FD_READ sets the event"), WAIT_OBJECT_0);
      assert.equal(recorder.take().networkEvents, FD_READ);
      const seen: number[] = [];
      NetworkEventRecorder.attach(pair.server, FD_READ, (fd) => seen.push(fd));
      assert.deepEqual(seen, [FD_READ], "the byte still waiting is recorded at once");
      assert.throws(
        () => NetworkEventRecorder.attach(pair.server, FD_READ, 7 as never),
        (e: unknown) => e instanceof TypeError && /must be a function or an event, got 7/.test(e.message),
      );
      closeEvent(event);
      await pair.close();
    });

    test("FD_READ comes again after a recv that leaves data, not after one that empties the buffer", async () => {
      const pair = await connectedPair(await make());
      const { client, server } = pair;
      try {
        const event = createEvent();
        eventSelect(server, event, FD_READ | FD_CLOSE);
        assert.equal(event.signaled, false, "nothing to read yet");
        assert.equal(client.trySend(randomBytes(10)), 10);
        assert.equal(await waitEvent(event, "FD_READ"), WAIT_OBJECT_0);
        await waitFor(() => server.core.available === 10, "10 bytes");
        assert.equal(enumNetworkEvents(server, event).networkEvents, FD_READ);
        assert.equal(event.signaled, false, "enumNetworkEvents resets the event");

        // More data without a recv in between is not recorded again.
        assert.equal(client.trySend(randomBytes(5)), 5);
        await waitFor(() => server.core.available === 15, "15 bytes");
        await sleep(20);
        assert.equal(event.signaled, false);
        assert.equal(enumNetworkEvents(server).networkEvents, 0);

        // A recv that leaves data records FD_READ again at once.
        assert.equal(server.tryRecv(new Uint8Array(4)), 4);
        assert.equal(event.signaled, true);
        assert.equal(enumNetworkEvents(server, event).networkEvents, FD_READ);
        // One that empties the buffer does not.
        assert.equal(server.tryRecv(new Uint8Array(100)), 11);
        assert.equal(event.signaled, false);
        assert.equal(enumNetworkEvents(server).networkEvents, 0);
        // Re-enabled, so the next data is recorded.
        assert.equal(client.trySend(new Uint8Array([7])), 1);
        await waitEvent(event, "FD_READ for new data");
        assert.equal(enumNetworkEvents(server, event).networkEvents, FD_READ);
        assert.equal(server.tryRecv(new Uint8Array(10)), 1);
      } finally {
        await pair.close();
      }
    });

    test("conditions that already hold are recorded when eventSelect is called", async () => {
      const pair = await connectedPair(await make());
      const { client, server } = pair;
      try {
        client.trySend(new Uint8Array([1, 2, 3]));
        await waitFor(() => server.core.available === 3, "data");
        const event = createEvent();
        eventSelect(server, event, FD_READ | FD_WRITE | FD_CLOSE);
        assert.equal(event.signaled, true);
        assert.equal(enumNetworkEvents(server, event).networkEvents, FD_READ | FD_WRITE);
        // Selecting again clears the record and records afresh.
        eventSelect(server, event, FD_WRITE);
        assert.equal(enumNetworkEvents(server, event).networkEvents, FD_WRITE);
      } finally {
        await pair.close();
      }
    });

    test("FD_CONNECT and FD_WRITE at connect; FD_WRITE again only after a send that would block", async () => {
      const transport = await make();
      const listener = await NonBlockingListener.listen({ transport, port: 0 });
      const client = await NonBlockingSocket.connect("127.0.0.1", listener.addr.port, {
        transport,
        sendBufferSize: 1024,
      });
      try {
        const event = createEvent();
        eventSelect(client, event, FD_CONNECT | FD_WRITE | FD_READ | FD_CLOSE);
        await waitEvent(event, "FD_CONNECT");
        const first = enumNetworkEvents(client, event);
        assert.equal(first.networkEvents, FD_CONNECT | FD_WRITE);
        assert.deepEqual(first.errorCodes, new Array(FD_MAX_EVENTS).fill(0));
        // A send that fits records nothing.
        assert.equal(client.trySend(new Uint8Array(100)), 100);
        await sleep(30);
        assert.equal(event.signaled, false, "no FD_WRITE after a send that did not block");
        // A partial send re-enables FD_WRITE; it comes once the bytes leave the send buffer.
        await waitFor(() => client.core.sendSpace === 1024, "the send buffer to empty");
        const sent = client.trySend(new Uint8Array(64 * 1024));
        assert.equal(sent, 1024);
        await waitEvent(event, "FD_WRITE after the partial send");
        assert.equal(enumNetworkEvents(client, event).networkEvents, FD_WRITE);
        await sleep(20);
        assert.equal(event.signaled, false, "FD_WRITE is recorded once");
      } finally {
        client.reset();
        await listener.close();
      }
    });

    test("FD_CLOSE comes only after all data was read, with 0 for a graceful close", async () => {
      const pair = await connectedPair(await make());
      const { client, server } = pair;
      try {
        client.trySend(randomBytes(100));
        client.shutdown();
        await waitFor(() => server.core.eof && server.core.available === 100, "data and FIN");
        const event = createEvent();
        eventSelect(server, event, FD_READ | FD_CLOSE);
        assert.equal(enumNetworkEvents(server, event).networkEvents, FD_READ, "no FD_CLOSE while data is unread");
        assert.equal(server.tryRecv(new Uint8Array(60)), 60);
        assert.equal(enumNetworkEvents(server, event).networkEvents, FD_READ);
        assert.equal(server.tryRecv(new Uint8Array(60)), 40);
        assert.equal(event.signaled, true, "FD_CLOSE once the last byte was read");
        const closed = enumNetworkEvents(server, event);
        assert.equal(closed.networkEvents, FD_CLOSE);
        assert.equal(closed.errorCodes[FD_CLOSE_BIT], 0);
        assert.equal(server.tryRecv(new Uint8Array(10)), 0);
        assert.equal(event.signaled, false, "FD_CLOSE is recorded once");
      } finally {
        await pair.close();
      }
    });

    test("an abortive close gives FD_CLOSE with WSAECONNRESET (10054)", async (t) => {
      const transport = await make();
      if (!transport.capabilities.reset) {
        t.skip(`the ${transport.name} transport cannot send a reset`);
        return;
      }
      const pair = await connectedPair(transport);
      const { client, server } = pair;
      try {
        const event = createEvent();
        eventSelect(server, event, FD_READ | FD_CLOSE);
        client.reset();
        await waitEvent(event, "FD_CLOSE");
        const { networkEvents, errorCodes } = enumNetworkEvents(server, event);
        assert.equal(networkEvents, FD_CLOSE);
        assert.equal(errorCodes[FD_CLOSE_BIT], 10054);
      } finally {
        await pair.close();
      }
    });

    test("FD_ACCEPT is recorded again after an accept that leaves connections waiting", async () => {
      const transport = await make();
      const listener = await NonBlockingListener.listen({ transport, port: 0 });
      const clients: NonBlockingSocket[] = [];
      const connect = async () => {
        clients.push(await NonBlockingSocket.connect("127.0.0.1", listener.addr.port, { transport }));
      };
      try {
        await connect();
        await waitFor(() => listener.core.pending === 1, "a pending connection");
        const event = createEvent();
        eventSelect(listener, event, FD_ACCEPT);
        assert.equal(event.signaled, true, "a connection already waiting is recorded at once");
        await connect();
        await waitFor(() => listener.core.pending === 2, "two pending connections");
        assert.equal(enumNetworkEvents(listener, event).networkEvents, FD_ACCEPT);
        assert.equal(event.signaled, false);
        const first = listener.tryAccept();
        assert.ok(first !== WOULD_BLOCK);
        assert.equal(event.signaled, true, "one is still waiting");
        assert.equal(enumNetworkEvents(listener, event).networkEvents, FD_ACCEPT);
        const second = listener.tryAccept();
        assert.ok(second !== WOULD_BLOCK);
        assert.equal(event.signaled, false);
        await connect();
        await waitEvent(event, "FD_ACCEPT for a new connection");
        assert.equal(enumNetworkEvents(listener, event).networkEvents, FD_ACCEPT);
        first.reset();
        second.reset();
        // Bun's transport cannot yet take a connect that completes after the peer has gone.
        await waitFor(() => clients.every((c) => c.connected), "the clients' connects");
      } finally {
        for (const c of clients) c.reset();
        await listener.close();
      }
    });

    test("a refused connect gives FD_CONNECT with WSAECONNREFUSED (10061) and nothing else", async () => {
      const transport = await make();
      const closed = await NonBlockingListener.listen({ transport, port: 0 });
      const port = closed.addr.port;
      await closed.close();
      const sock = await NonBlockingSocket.connect("127.0.0.1", port, { transport });
      const event = createEvent();
      eventSelect(sock, event, FD_CONNECT | FD_WRITE | FD_READ | FD_CLOSE);
      await waitEvent(event, "FD_CONNECT");
      const { networkEvents, errorCodes } = enumNetworkEvents(sock, event);
      assert.equal(networkEvents, FD_CONNECT);
      assert.equal(errorCodes[FD_CONNECT_BIT], 10061);
      await sleep(20);
      assert.equal(event.signaled, false);
      await sock.close();
    });

    test("mask 0 cancels the selection, and closing the socket ends it", async () => {
      const pair = await connectedPair(await make());
      const { client, server } = pair;
      try {
        const event = createEvent();
        eventSelect(server, event, FD_READ);
        assert.ok(Object.hasOwn(server, "tryRecv"), "the socket's calls re-enable events while selected");
        eventSelect(server, event, 0);
        assert.equal(Object.hasOwn(server, "tryRecv"), false);
        client.trySend(new Uint8Array([1]));
        await waitFor(() => server.core.available === 1, "data");
        await sleep(10);
        assert.equal(event.signaled, false);
        eventSelect(server, event, FD_READ);
        assert.equal(event.signaled, true);
        resetEvent(event);
        // The peer's FIN lets the graceful close finish at once.
        client.shutdown();
        const closing = server.close();
        assert.equal(Object.hasOwn(server, "tryRecv"), false, "closesocket cancels the selection");
        await within(closing, 5000, "the close");
        assert.throws(
          () => eventSelect(server, event, FD_READ),
          (e: unknown) => e instanceof NetError && e.code === "ENOTCONN",
        );
      } finally {
        await pair.close();
      }
    });
  });
}

describe("WSAEventSelect over the memory transport with a small receive window", () => {
  test("no FD_WRITE while the peer does not read; FD_WRITE once it reads and space frees", async () => {
    const transport = createMemoryTransport({ receiveWindow: 1024 });
    const pair = await connectedPair(transport, { receiveBufferSize: 1024 }, { sendBufferSize: 2048 });
    const { client, server } = pair;
    try {
      const event = createEvent();
      eventSelect(client, event, FD_WRITE);
      assert.equal(enumNetworkEvents(client, event).networkEvents, FD_WRITE, "writable once connected");
      const chunk = new Uint8Array(4096);
      for (let i = 0; i < 100; i++) {
        if (client.trySend(chunk) === WOULD_BLOCK) {
          await sleep(20);
          if (client.core.sendSpace === 0) break;
        } else {
          await sleep(5);
        }
      }
      assert.equal(client.core.sendSpace, 0, "the pipe is full");
      enumNetworkEvents(client, event);
      assert.equal(client.trySend(chunk), WOULD_BLOCK);
      await sleep(60);
      assert.equal(event.signaled, false, "no FD_WRITE while no space frees");
      const buf = new Uint8Array(512);
      const wrote = waitEvent(event, "FD_WRITE once the peer reads");
      while (!event.signaled) {
        server.tryRecv(buf);
        await sleep(5);
      }
      await wrote;
      assert.equal(enumNetworkEvents(client, event).networkEvents, FD_WRITE);
      assert.ok(client.core.sendSpace * 2 >= client.core.sendBufferSize);
    } finally {
      await pair.close();
    }
  });

  test("bad arguments to eventSelect are rejected clearly", async () => {
    const pair = await connectedPair(createMemoryTransport());
    try {
      const event = createEvent();
      assert.throws(
        () => eventSelect(pair.server, event, 64),
        (e: unknown) => e instanceof RangeError && /0x40/.test(e.message),
      );
      assert.throws(() => eventSelect({} as NonBlockingSocket, event, FD_READ), TypeError);
      closeEvent(event);
      assert.throws(
        () => eventSelect(pair.server, event, FD_READ),
        (e: unknown) => e instanceof TypeError && /closed/.test(e.message),
      );
    } finally {
      await pair.close();
    }
  });
});

function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.byteLength);
  new DataView(out.buffer).setUint32(0, payload.byteLength);
  out.set(payload, 4);
  return out;
}

async function echoRoundTrip(transport: Transport, port: number, wire: Uint8Array): Promise<Uint8Array> {
  const client = await transport.connect({ hostname: "127.0.0.1", port, allowHalfOpen: true });
  const side = observe(client);
  client.write(wire.subarray(0, 7));
  client.write(wire.subarray(7));
  client.end();
  assert.equal(await within(side.closed, 20_000, "the echo"), undefined);
  return concat(side.chunks);
}

for (
  const [name, make] of [
    ...transports,
    ["memory (1-byte chunks)", () => Promise.resolve(createMemoryTransport({ chunkSize: 1 }))],
  ] as [string, () => Promise<Transport>][]
) {
  describe(`examples over the ${name} transport`, () => {
    test("echo_event_select echoes raw bytes and lp4 frames, then closes after the peer's FIN", async () => {
      const transport = await make();
      const size = name.includes("1-byte") ? 3000 : 200_000;
      for (const framing of ["raw", "lp4"] as const) {
        const server = await startEcho({ transport, framing });
        try {
          const wire = framing === "raw"
            ? randomBytes(size)
            : concat([frame(randomBytes(size)), frame(new Uint8Array(0)), frame(randomBytes(3))]);
          assert.deepEqual(await echoRoundTrip(transport, server.addr.port, wire), wire);
        } finally {
          await within(server.close(), 10_000, "the server to close");
        }
      }
    });

    test("chat_event_select sends every line to every client", async () => {
      const transport = await make();
      const server = await startChat({ transport });
      const clients: Stream[] = [];
      try {
        for (let i = 0; i < 3; i++) {
          clients.push(await transport.connect({ hostname: "127.0.0.1", port: server.addr.port }));
        }
        const sides = clients.map((c) => observe(c));
        await sleep(50);
        const text = new TextEncoder();
        clients[0].write(text.encode("hello "));
        clients[0].write(text.encode("from 0\n"));
        await sleep(30);
        clients[2].write(text.encode("and from 2\n"));
        const expected = text.encode("hello from 0\nand from 2\n");
        await within(
          (async () => {
            while (sides.some((s) => s.bytes < expected.byteLength)) await sleep(5);
          })(),
          10_000,
          "the broadcasts",
        );
        for (const s of sides) assert.deepEqual(concat(s.chunks), expected);
      } finally {
        for (const c of clients) c.reset();
        await within(server.close(), 10_000, "the server to close");
      }
    });
  });
}

describe("echo_event_select with more than 64 connections", () => {
  test("several waiting groups serve 150 clients at once", async () => {
    const transport = createMemoryTransport();
    const server = await startEcho({ transport, framing: "lp4" });
    try {
      await Promise.all(Array.from({ length: 150 }, async (_, i) => {
        const wire = concat([frame(randomBytes(i)), frame(randomBytes(50))]);
        assert.deepEqual(await echoRoundTrip(transport, server.addr.port, wire), wire);
      }));
    } finally {
      await within(server.close(), 10_000, "the server to close");
    }
  });

  test("chat over lp4 reaches clients in every waiting group", async () => {
    const transport = createMemoryTransport();
    const server = await startChat({ transport, framing: "lp4" });
    const clients: Stream[] = [];
    try {
      for (let i = 0; i < 70; i++) {
        clients.push(await transport.connect({ hostname: "127.0.0.1", port: server.addr.port }));
      }
      const sides = clients.map((c) => observe(c));
      await sleep(50);
      const message = frame(new TextEncoder().encode("to everyone"));
      clients[69].write(message);
      await within(
        (async () => {
          while (sides.some((s) => s.bytes < message.byteLength)) await sleep(5);
        })(),
        10_000,
        "the broadcast",
      );
      for (const s of sides) assert.deepEqual(concat(s.chunks), message);
    } finally {
      for (const c of clients) c.reset();
      await within(server.close(), 10_000, "the server to close");
    }
  });
});
