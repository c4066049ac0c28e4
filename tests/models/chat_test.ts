import { test } from "node:test";
import assert from "node:assert/strict";
import type { EchoServerOptions } from "../../src/apps/echo.ts";
import { startBroadcastChat } from "../../src/apps/chat/broadcast_chat.ts";

const blockingChat = (options: EchoServerOptions) => startBroadcastChat("blocking", options);
const iocpChat = (options: EchoServerOptions) => startBroadcastChat("iocp", options);
const eventSelectChat = (options: EchoServerOptions) => startBroadcastChat("event-select", options);
import { defaultTransport } from "../../src/runtime/detect.ts";
import { createMemoryTransport } from "../../src/runtime/memory.ts";
import type { Transport } from "../../src/runtime/types.ts";
import { concat, observe, sleep, within } from "../helpers/net.ts";

for (
  const [chat, startChat] of [
    ["chat_blocking", blockingChat],
    ["chat_iocp", iocpChat],
    ["chat_event_select", eventSelectChat],
  ] as const
) {
  for (
    const [name, make] of [
      ["native", () => defaultTransport()],
      ["memory", () => Promise.resolve(createMemoryTransport())],
    ] as [string, () => Promise<Transport>][]
  ) {
    test(`${chat} broadcasts every frame to every client (${name})`, async () => {
      const transport = await make();
      const server = await startChat({ transport, framing: "lp4" });
      const clients = await Promise.all(
        [0, 1, 2].map(() => transport.connect({ hostname: "127.0.0.1", port: server.addr.port })),
      );
      const sides = clients.map((c) => observe(c));
      await sleep(50);
      const frame = (text: string) => {
        const body = new TextEncoder().encode(text);
        const out = new Uint8Array(4 + body.byteLength);
        new DataView(out.buffer).setUint32(0, body.byteLength);
        out.set(body, 4);
        return out;
      };
      clients[0].write(frame("hello from 0"));
      await sleep(30);
      clients[2].write(frame("and from 2"));
      const expected = concat([frame("hello from 0"), frame("and from 2")]);
      await within(
        (async () => {
          while (sides.some((s) => s.bytes < expected.byteLength)) {
            await sleep(5);
          }
        })(),
        5000,
        "broadcasts",
      );
      for (const s of sides) assert.deepEqual(concat(s.chunks), expected);
      await Promise.all(clients.map((c) => c.close()));
      await server.close();
    });
  }
}
