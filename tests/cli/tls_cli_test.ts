/**
 * The CLI over TLS: `serve --tls-cert/--tls-key` on a model, `client --tls --tls-ca` talking to
 * it, a client the server's name does not match, and TLS flags that do not go together.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../../src/cli/run_cli.ts";
import { testIo, waitFor } from "./_helpers.ts";
import { within } from "../helpers/net.ts";
import { certPair, fixture, goodServer } from "../helpers/tls.ts";
import { TrafficCounter } from "../../src/cli/traffic_counter.ts";
import { formatStatsLine } from "../../src/cli/server_output.ts";
import { tlsTransport } from "../../src/runtime/tls_transport.ts";
import { defaultTransport } from "../../src/runtime/detect.ts";

const dir = mkdtempSync(join(tmpdir(), "sockmodels-tls-cli-"));
const files: Record<string, string> = {};
for (const name of ["localhost.pem", "localhost.key", "ca.pem"]) {
  files[name] = join(dir, name);
  writeFileSync(files[name], fixture(name));
}
const other = certPair("other_name");
files["other.pem"] = join(dir, "other.pem");
files["other.key"] = join(dir, "other.key");
writeFileSync(files["other.pem"], other.cert);
writeFileSync(files["other.key"], other.key);

async function serveTls(args: string[]) {
  const io = testIo();
  const running = runCli(["serve", ...args, "--port", "0"], io);
  await waitFor(
    () => /listening on 127\.0\.0\.1:\d+ \(TLS\)/.test(io.out),
    `the listening line; got ${io.out}${io.err}`,
  );
  const port = /listening on 127\.0\.0\.1:(\d+)/.exec(io.out)![1];
  return { io, running, port };
}

describe("TLS on the command line", () => {
  for (const model of ["select", "iocp", "engine"]) {
    test(`serve chat --model ${model} with TLS talks to client chat --tls`, async () => {
      const server = await serveTls([
        "chat",
        "--model",
        model,
        "--tls-cert",
        files["localhost.pem"],
        "--tls-key",
        files["localhost.key"],
      ]);
      const client = testIo(["/nick alice", "hello over tls"]);
      const code = await within(
        runCli(["client", "chat", "--port", server.port, "--tls", "--tls-ca", files["ca.pem"], "--json"], client),
        10_000,
        "the client",
      );
      assert.equal(code, 0, client.err);
      assert.match(client.out, /"event":"connected".*"tls":"?TLS/);
      assert.match(client.out, /alice: hello over tls/);
      server.io.stop();
      assert.equal(await within(server.running, 10_000, "the server to stop"), 0);
    });
  }

  test("--json logs each connection's TLS protocol and ALPN, and the stats count them", async () => {
    const server = await serveTls([
      "echo",
      "--json",
      "--tls-cert",
      files["localhost.pem"],
      "--tls-key",
      files["localhost.key"],
      "--tls-alpn",
      "sockmodels-echo,other",
    ]);
    const client = testIo(["ping"]);
    const args = [
      "client",
      "echo",
      "--port",
      server.port,
      "--tls-ca",
      files["ca.pem"],
      "--tls-alpn",
      "sockmodels-echo",
    ];
    assert.equal(await within(runCli([...args, "--json"], client), 10_000, "the client"), 0, client.err);
    assert.match(client.out, /"event":"connected".*"tls":"TLS(v1\.[23])?","alpn":"sockmodels-echo"/);
    await waitFor(() => /"event":"open"/.test(server.io.out), "the open record");
    const open = server.io.out.split("\n").map((line) => line && JSON.parse(line)).find((r) => r?.event === "open");
    assert.match(open.tls, /^TLS(v1\.[23])?$/);
    assert.equal(open.alpn, "sockmodels-echo");
    assert.match(open.message, /connected from 127\.0\.0\.1:\d+ \(TLS(v1\.[23])? sockmodels-echo\)$/);
    server.io.stop();
    assert.equal(await within(server.running, 10_000, "the server to stop"), 0);

    const counter = new TrafficCounter(
      tlsTransport(await defaultTransport(), { server: { ...goodServer, alpnProtocols: ["sockmodels-echo"] } }),
      undefined,
    );
    const listener = await counter.transport.listen({
      hostname: "127.0.0.1",
      port: 0,
      onAccept: (s) => s.setHandlers({}),
    });
    const client2 = await (await defaultTransport()).connect({
      hostname: "127.0.0.1",
      port: listener.addr.port,
      tls: { ca: fixture("ca.pem"), serverName: "localhost", alpnProtocols: ["sockmodels-echo"] },
    });
    await waitFor(() => counter.totals().connections === 1, "the accept");
    const totals = counter.totals();
    assert.deepEqual(Object.values(totals.tls ?? {}), [1]);
    assert.match(Object.keys(totals.tls ?? {})[0], /^TLS(v1\.[23])? sockmodels-echo$/);
    assert.match(formatStatsLine(totals, 0, 0), / \| 1 TLS(v1\.[23])? sockmodels-echo$/);
    client2.reset();
    await listener.close();
  });

  test("a client that does not trust the server's name gets CERT_NAME_MISMATCH, and the server goes on", async () => {
    const server = await serveTls(["echo", "--tls-cert", files["other.pem"], "--tls-key", files["other.key"]]);
    const client = testIo(["ping"]);
    const code = await runCli(["client", "echo", "--port", server.port, "--tls-ca", files["ca.pem"]], client);
    assert.equal(code, 1);
    assert.match(client.err, /not valid for the name/);
    const named = testIo(["ping"]);
    const ok = await runCli(
      ["client", "echo", "--port", server.port, "--tls-ca", files["ca.pem"], "--tls-server-name", "other.example"],
      named,
    );
    assert.equal(ok, 0, named.err);
    assert.match(named.out, /ping/);
    server.io.stop();
    assert.equal(await within(server.running, 10_000, "the server to stop"), 0);
  });

  test("TLS flags that do not go together exit with code 2 and say why", async () => {
    const io = testIo();
    assert.equal(await runCli(["serve", "echo", "--port", "0", "--tls-cert", files["localhost.pem"]], io), 2);
    assert.match(io.err, /needs both --tls-cert FILE and --tls-key FILE/);
    const io2 = testIo();
    assert.equal(await runCli(["serve", "echo", "--port", "0", "--tls-require-client-cert"], io2), 2);
    assert.match(io2.err, /need --tls-cert and --tls-key/);
    const io3 = testIo();
    const badAlpn = ["--tls-cert", files["localhost.pem"], "--tls-key", files["localhost.key"], "--tls-alpn", "h2,,x"];
    assert.equal(await runCli(["serve", "echo", "--port", "0", ...badAlpn], io3), 2);
    assert.match(io3.err, /--tls-alpn needs a comma-separated list of protocol names, got "h2,,x"/);
  });
});
