/**
 * The apps take `tls` themselves: the chat and omok servers, and the echo on any model
 * through startHost. A verified TLS client talks to each; a plaintext client gets no service.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { startChatServer } from "../../src/apps/chat/chat_server.ts";
import { startOmokServer } from "../../src/apps/omok/omok_server.ts";
import { startEcho } from "../../src/apps/echo.ts";
import { defaultTransport } from "../../src/runtime/detect.ts";
import type { Stream } from "../../src/runtime/types.ts";
import { goodServer, trustingClient } from "../helpers/tls.ts";
import { within } from "../helpers/net.ts";

const transport = await defaultTransport();
const encoder = new TextEncoder();

/** Connects with TLS and collects what arrives as text. */
async function tlsClient(port: number): Promise<{ stream: Stream; text: () => string; closed: Promise<void> }> {
  const stream = await transport.connect({ hostname: "127.0.0.1", port, tls: trustingClient });
  const decoder = new TextDecoder();
  let text = "";
  const closed = new Promise<void>((resolve) => {
    stream.setHandlers({
      onData: (chunk) => (text += decoder.decode(chunk, { stream: true })),
      onClose: () => resolve(),
    });
  });
  return { stream, text: () => text, closed };
}

function until(condition: () => boolean, what: string): Promise<void> {
  return within(
    new Promise<void>((resolve) => {
      const wait = () => (condition() ? resolve() : setTimeout(wait, 5));
      wait();
    }),
    10_000,
    what,
  );
}

describe(`apps serving TLS on ${transport.name}`, () => {
  for (const model of ["engine", "poll"] as const) {
    test(`startChatServer({ tls, model: "${model}" }) chats over TLS`, async () => {
      const chat = await startChatServer({ port: 0, model, tls: goodServer });
      const client = await tlsClient(chat.addr.port);
      assert.ok(client.stream.tls, "the chat connection speaks TLS");
      client.stream.write(encoder.encode("/nick alice\nhello over tls\n"));
      await until(() => client.text().includes("alice: hello over tls"), "the chat line");
      await chat.close();
      await within(client.closed, 10_000, "the close");
    });
  }

  test("startOmokServer({ tls }) seats a TLS player", async () => {
    const omok = await startOmokServer({ port: 0, tls: goodServer });
    const client = await tlsClient(omok.addr.port);
    assert.ok(client.stream.tls);
    await until(() => client.text().length > 0, "the table's greeting");
    await omok.close();
    await within(client.closed, 10_000, "the close");
  });

  test("startEcho(model, { tls }) echoes over TLS, and a plaintext client is not served", async () => {
    const echo = await startEcho("select", { port: 0, framing: "lines", tls: goodServer });
    const client = await tlsClient(echo.addr.port);
    client.stream.write(encoder.encode("ping\n"));
    await until(() => client.text() === "ping\n", "the echo");
    client.stream.end();

    const plain = await transport.connect({ hostname: "127.0.0.1", port: echo.addr.port });
    let answered = "";
    const plainClosed = new Promise<void>((resolve) => {
      plain.setHandlers({ onData: (c) => (answered += new TextDecoder().decode(c)), onClose: () => resolve() });
    });
    plain.write(encoder.encode("ping\n"));
    await within(plainClosed, 15_000, "the plaintext client's close");
    assert.ok(!answered.includes("ping"), `a plaintext client got an echo: ${JSON.stringify(answered)}`);
    await echo.close();
  });
});
