/**
 * `serve --proxy-protocol`: the log shows each client's real address from its PROXY header, a
 * connection without a good header is refused and logged while the server goes on, and bad
 * flags exit with code 2.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { runCli } from "../../src/cli/run_cli.ts";
import { defaultTransport } from "../../src/runtime/detect.ts";
import { testIo, waitFor } from "./_helpers.ts";
import { observe, within } from "../helpers/net.ts";

const text = (s: string) => new TextEncoder().encode(s);

describe("serve --proxy-protocol", () => {
  test("logs the client's address from the header, and refuses a connection without one", async () => {
    const io = testIo();
    const running = runCli([
      "serve",
      "echo",
      "--port",
      "0",
      "--json",
      "--proxy-protocol",
      "v1",
      "--proxy-trusted",
      "127.0.0.0/8,::1",
    ], io);
    await waitFor(() => /listening on/.test(io.out), `the listening line; got ${io.out}${io.err}`);
    const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(io.out)![1]);
    const transport = await defaultTransport();

    const client = await transport.connect({ hostname: "127.0.0.1", port });
    const side = observe(client);
    client.write(text("PROXY TCP4 203.0.113.7 198.51.100.2 40000 9000\r\nping"));
    await waitFor(() => side.bytes === 4, "the echo");
    const records = () => io.out.split("\n").filter((line) => line).map((line) => JSON.parse(line));
    const open = records().find((r) => r.event === "open");
    assert.equal(open.remote, "203.0.113.7:40000");
    assert.equal(open.proxy, 1);
    assert.match(open.message, /connected from 203\.0\.113\.7:40000 via PROXY v1$/);

    const bare = await transport.connect({ hostname: "127.0.0.1", port });
    const bareSide = observe(bare);
    bare.write(text("ping\r\n"));
    await within(bareSide.closed, 10_000, "the bare client's close");
    await waitFor(() => records().some((r) => r.event === "proxy-refused"), "the refusal record");
    const refused = records().find((r) => r.event === "proxy-refused");
    assert.match(refused.message, /refused 1 connection without a good PROXY header \(Expected a PROXY v1 line/);
    client.write(text("again"));
    await waitFor(() => side.bytes === 9, "the first client still served");
    client.reset();
    io.stop();
    assert.equal(await within(running, 10_000, "the server to stop"), 0);
  });

  test("bad flags exit with code 2 and say why", async () => {
    const cases: [string[], RegExp][] = [
      [["--proxy-protocol", "v3"], /--proxy-protocol must be v1, v2 or any, got "v3"/],
      [["--proxy-trusted", "10.0.0.0/8"], /--proxy-trusted needs --proxy-protocol/],
      [["--proxy-protocol", "any", "--proxy-trusted", "10.0.0.0/40"], /got "10\.0\.0\.0\/40"/],
    ];
    for (const [flags, message] of cases) {
      const io = testIo();
      assert.equal(await runCli(["serve", "echo", "--port", "0", ...flags], io), 2, io.err);
      assert.match(io.err, message);
    }
  });
});
