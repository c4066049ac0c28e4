import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import process from "node:process";
import { detectRuntime, loadTransport } from "../../src/runtime/detect.ts";
import { concat, observe, randomBytes, within } from "../helpers/net.ts";

function exampleCommand(file: string, args: string[]): string[] {
  switch (detectRuntime()) {
    case "deno":
      return [process.execPath, "run", "-A", `examples/${file}.ts`, ...args];
    case "bun":
      return [process.execPath, `examples/${file}.ts`, ...args];
    default: {
      const built = `npm/esm/examples/${file}.js`;
      assert.ok(existsSync(built), `${built} is missing; run the npm build first`);
      return [process.execPath, built, ...args];
    }
  }
}

test("examples/raw_echo echoes, reports its address and stops on SIGTERM", async () => {
  const [cmd, ...args] = exampleCommand("raw_echo", ["--host", "127.0.0.1", "--port", "0"]);
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let text = "";
  try {
    const port = await within(
      new Promise<number>((resolve, reject) => {
        child.stdout!.on("data", (d: Uint8Array) => {
          text += new TextDecoder().decode(d);
          const m = /listening on 127\.0\.0\.1:(\d+)/.exec(text);
          if (m) resolve(Number(m[1]));
        });
        child.once("exit", (code) => reject(new Error(`raw_echo exited with ${code} before listening`)));
      }),
      20_000,
      "listening on",
    );
    const transport = await loadTransport("node");
    const client = await transport.connect({ hostname: "127.0.0.1", port });
    const side = observe(client);
    const payload = randomBytes(300_000);
    client.write(payload);
    client.end();
    await within(side.closed, 10_000, "echo to finish");
    assert.equal(side.error, undefined);
    assert.deepEqual(concat(side.chunks), payload);
  } finally {
    child.kill("SIGTERM");
  }
  const code = await within(exited, 10_000, "exit");
  assert.match(text, /\nstopped\n/, "the server shuts down gracefully");
  // A Deno parent reports a child that exited after SIGTERM as killed by the signal.
  if (detectRuntime() !== "deno") assert.equal(code, 0);
});

test("examples/raw_echo rejects a bad port with a clear message", async () => {
  const [cmd, ...args] = exampleCommand("raw_echo", ["--port", "99999"]);
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d: Uint8Array) => (err += new TextDecoder().decode(d)));
  const code = await within(new Promise<number | null>((r) => child.once("exit", r)), 20_000, "exit");
  assert.equal(code, 2);
  assert.match(err, /port must be 0 to 65535, got 99999/);
});
