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
import { certPair, fixture } from "../helpers/tls.ts";

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
  });
});
