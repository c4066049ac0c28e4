import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import process from "node:process";
import { NetError } from "../../src/runtime/errors.ts";
import { RetryError, TimeoutError } from "../../src/resilience/errors.ts";
import type { RetryInfo } from "../../src/resilience/retry.ts";
import { detectRuntime, loadTransport } from "../../src/runtime/detect.ts";
import { createMemoryTransport } from "../../src/runtime/memory.ts";
import type { Listener, Stream, Transport } from "../../src/runtime/types.ts";
import { sleep } from "../helpers/net.ts";
import { httpGetWithRetry, HttpStatusError } from "../../src/apps/http_get.ts";
import { encoder, rejection } from "../resilience/_helpers.ts";
import { startStalledListenerOn } from "../helpers/stalled_listener.ts";

type Behaviour =
  | "reset"
  | "hangup"
  | "503"
  | "stall"
  | "ok"
  | "404"
  | "chunked";

/** An HTTP server on the adapter that behaves, connection by connection, as scripted. */
async function scriptedServer(
  transport: Transport,
  script: Behaviour[],
  bodySize = 10_000,
): Promise<{ port: number; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const open = new Set<Stream>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let n = 0;
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  const listener: Listener = await transport.listen({
    hostname: "127.0.0.1",
    port: 0,
    onAccept(stream) {
      const behaviour = script[Math.min(n++, script.length - 1)];
      open.add(stream);
      let head = "";
      let answered = false;
      stream.setHandlers({
        onData(chunk) {
          head += new TextDecoder().decode(chunk);
          if (answered || !head.includes("\r\n\r\n")) return;
          answered = true;
          requests.push(head.split("\r\n")[0]);
          respond(stream, behaviour);
        },
        onClose: () => open.delete(stream),
      });
    },
  });
  const body = new Uint8Array(bodySize).fill(0x61);
  function respond(stream: Stream, behaviour: Behaviour): void {
    switch (behaviour) {
      case "reset":
        stream.reset();
        return;
      case "hangup":
        void stream.close();
        return;
      case "503":
        stream.write(
          encoder.encode(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy",
          ),
        );
        void stream.close();
        return;
      case "404":
        stream.write(
          encoder.encode(
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
          ),
        );
        void stream.close();
        return;
      case "stall":
        stream.write(
          encoder.encode(
            `HTTP/1.1 200 OK\r\nContent-Length: ${bodySize}\r\n\r\n`,
          ),
        );
        return;
      case "chunked": {
        stream.write(
          encoder.encode(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
          ),
        );
        stream.write(encoder.encode(`${bodySize.toString(16)}\r\n`));
        stream.write(body);
        stream.write(encoder.encode("\r\n0\r\n\r\n"));
        void stream.close();
        return;
      }
      case "ok": {
        // The body trickles in over about 300 ms, longer than the test's activity timeout:
        // every received byte must start that timeout again.
        stream.write(
          encoder.encode(
            `HTTP/1.1 200 OK\r\nContent-Length: ${bodySize}\r\nConnection: close\r\n\r\n`,
          ),
        );
        const pieces = 5;
        const size = Math.ceil(bodySize / pieces);
        for (let i = 0; i < pieces; i++) {
          later(60 * (i + 1), () => {
            if (stream.closed) return;
            stream.write(
              body.subarray(i * size, Math.min(bodySize, (i + 1) * size)),
            );
            if (i === pieces - 1) void stream.close();
          });
        }
        return;
      }
    }
  }
  return {
    port: listener.addr.port,
    requests,
    async close() {
      for (const t of timers) clearTimeout(t);
      const closing = listener.close();
      for (const s of open) s.reset();
      await closing;
    },
  };
}

for (const name of ["native", "memory"] as const) {
  describe(`examples/http_get_with_retry (${name} transport)`, () => {
    test("a server that fails the first connections, then answers slowly", async () => {
      const transport = name === "memory" ? createMemoryTransport() : await loadTransport(detectRuntime());
      const server = await scriptedServer(transport, [
        "reset",
        "hangup",
        "503",
        "ok",
      ]);
      const retries: RetryInfo[] = [];
      try {
        const response = await httpGetWithRetry(
          `http://127.0.0.1:${server.port}/data?x=1`,
          {
            transport,
            activityTimeoutMs: 150,
            backoff: { baseMs: 10, capMs: 40 },
            onRetry: (info) => retries.push(info),
          },
        );
        assert.equal(response.statusLine, "HTTP/1.1 200 OK");
        assert.equal(response.status, 200);
        assert.equal(response.body.byteLength, 10_000);
        assert.ok(response.body.every((b) => b === 0x61));
        assert.equal(response.attempts, 4);
        assert.deepEqual(
          server.requests,
          Array(server.requests.length).fill("GET /data?x=1 HTTP/1.1"),
        );
        assert.equal(retries.length, 3);
        assert.ok(
          retries[0].error instanceof NetError &&
            retries[0].error.code === "ECONNRESET",
          String(retries[0].error),
        );
        assert.ok(
          retries[1].error instanceof NetError &&
            retries[1].error.code === "ECONNRESET",
          String(retries[1].error),
        );
        assert.ok(
          retries[2].error instanceof HttpStatusError &&
            retries[2].error.status === 503,
        );
      } finally {
        await server.close();
      }
    });

    test("an activity timeout: headers, then silence", async () => {
      const transport = name === "memory" ? createMemoryTransport() : await loadTransport(detectRuntime());
      const server = await scriptedServer(transport, ["stall", "stall"]);
      try {
        const error = await rejection(
          httpGetWithRetry(`http://127.0.0.1:${server.port}/`, {
            transport,
            activityTimeoutMs: 100,
            maxAttempts: 2,
            backoff: { baseMs: 10, capMs: 20 },
          }),
        );
        assert.ok(error instanceof RetryError, String(error));
        assert.equal(error.attempts, 2);
        for (const e of error.errors) {
          assert.ok(
            e instanceof TimeoutError && e.kind === "read-idle",
            String(e),
          );
          assert.match((e as Error).message, /nothing was received for 100 ms/);
        }
      } finally {
        await server.close();
      }
    });

    test("a 404 is returned, not retried; chunked bodies are decoded", async () => {
      const transport = name === "memory" ? createMemoryTransport() : await loadTransport(detectRuntime());
      const server = await scriptedServer(transport, ["404", "chunked"], 3000);
      try {
        const notFound = await httpGetWithRetry(
          `http://127.0.0.1:${server.port}/missing`,
          { transport },
        );
        assert.equal(notFound.status, 404);
        assert.equal(notFound.attempts, 1);
        const chunked = await httpGetWithRetry(
          `http://127.0.0.1:${server.port}/`,
          { transport },
        );
        assert.equal(chunked.body.byteLength, 3000);
      } finally {
        await server.close();
      }
    });
  });
}

describe("examples/http_get_with_retry: connect timeout and arguments", () => {
  test("a black-holed server: every attempt ends in a connect timeout", async () => {
    const stalled = await startStalledListenerOn("127.0.0.1");
    try {
      const started = performance.now();
      const error = await rejection(
        httpGetWithRetry(`http://127.0.0.1:${stalled.port}/`, {
          connectTimeoutMs: 150,
          maxAttempts: 2,
          backoff: { baseMs: 10, capMs: 20 },
        }),
      );
      assert.ok(error instanceof RetryError, String(error));
      assert.equal(error.attempts, 2);
      assert.ok(
        error.errors.every((e) => e instanceof TimeoutError && e.kind === "connect"),
      );
      assert.ok(performance.now() - started < 3000);
    } finally {
      await stalled.close();
    }
  });

  test("only http:// URLs", async () => {
    await assert.rejects(
      httpGetWithRetry("https://example.com/"),
      (e: unknown) => e instanceof TypeError && /"https:"/.test(e.message),
    );
  });

  test("the command line prints the status line and the body size", async () => {
    const transport = await loadTransport(detectRuntime());
    const server = await scriptedServer(transport, ["hangup", "ok"], 2048);
    const file = "examples/http_get_with_retry";
    const args = [
      `http://localhost:${server.port}/`,
      "--attempts",
      "3",
      "--base-delay",
      "10",
      "--activity-timeout",
      "2000",
    ];
    let command: string[];
    switch (detectRuntime()) {
      case "deno":
        command = [process.execPath, "run", "-A", `${file}.ts`, ...args];
        break;
      case "bun":
        command = [process.execPath, `${file}.ts`, ...args];
        break;
      default: {
        const built = `npm/esm/${file}.js`;
        assert.ok(
          existsSync(built),
          `${built} is missing; run the npm build first`,
        );
        command = [process.execPath, built, ...args];
      }
    }
    try {
      const child = spawn(command[0], command.slice(1), {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout!.on(
        "data",
        (d: Uint8Array) => (stdout += new TextDecoder().decode(d)),
      );
      child.stderr!.on(
        "data",
        (d: Uint8Array) => (stderr += new TextDecoder().decode(d)),
      );
      const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
      clearTimeout(killer);
      assert.equal(code, 0, `exit ${code}: ${stderr}`);
      assert.equal(stdout, "HTTP/1.1 200 OK\nbody: 2048 bytes (attempts: 2)\n");
      assert.match(
        stderr,
        /attempt 1 failed \(NetError ECONNRESET: .*\); retrying in \d+ ms/,
      );
    } finally {
      await sleep(1);
      await server.close();
    }
  });
});
