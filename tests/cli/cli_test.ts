/**
 * The `sockmodels` command line: argument errors (exit code 2, a sentence that names the bad
 * value), `--help` everywhere, a real process that prints `listening on`, serves, and stops
 * gracefully on SIGINT, the output modes, and the echo server and client.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { runCli } from "../../src/cli/run_cli.ts";
import { formatStatsLine, openRecord, ServerOutput } from "../../src/cli/server_output.ts";
import { detectRuntime } from "../../src/runtime/detect.ts";
import { sleep, within } from "../helpers/net.ts";
import { LineClient, spawnCli, testIo, waitFor } from "./_helpers.ts";

const BAD: [string[], RegExp][] = [
  [[], /^sockmodels: A command is needed: serve, client or bench\nRun "sockmodels --help" for usage\.\n$/],
  [["launch"], /Unknown command "launch": use serve, client or bench\n/],
  [["serev"], /Unknown command "serev": use serve, client or bench \(did you mean serve\?\)\n/],
  [["serve", "chta"], /Unknown server "chta": use chat, echo or omok \(did you mean chat\?\)\n/],
  [["serve", "chat", "--prot", "9000"], /Unknown option --prot \(did you mean --port\?\)\n/],
  [["serve", "echo", "--model", "iocpp"], /got "iocpp" \(did you mean iocp\?\)\n/],
  [["bench", "model"], /Unknown benchmark "model": use models \(did you mean models\?\)\n/],
  [["--port", "1"], /Unknown option --port: options come after the command/],
  [["serve"], /Serve needs a server: chat, echo or omok\nRun "sockmodels serve --help"/],
  [["serve", "pizza"], /Unknown server "pizza": use chat, echo or omok\n/],
  [
    ["serve", "chat", "--port", "70000"],
    /Port must be an integer from 0 to 65535, got "70000"\nRun "sockmodels serve chat --help"/,
  ],
  [["serve", "chat", "--port", "http"], /Port must be an integer from 0 to 65535, got "http"/],
  [["serve", "chat", "--port"], /Option --port needs a value \(PORT\)/],
  [["serve", "chat", "--port", "--json"], /Option --port needs a value/],
  [["serve", "chat", "--json=yes"], /Option --json takes no value, got "yes"/],
  [["serve", "chat", "--colour"], /Unknown option --colour\n/],
  [
    ["serve", "chat", "--model", "kqueue"],
    /Model must be one of adapter, blocking, nonblocking, select, poll, selector, event-select, async-select, iocp, engine, got "kqueue"/,
  ],
  [["serve", "chat", "--framing", "raw"], /Framing must be one of lines, lp4, got "raw"/],
  [["serve", "chat", "--high-water-mark", "0"], /High water mark must be an integer from 1 to \d+, got "0"/],
  [["serve", "chat", "now"], /Unexpected argument "now": serve chat takes options only/],
  [
    ["serve", "echo", "--model", "epoll"],
    /Model must be one of adapter, blocking, nonblocking, select, poll, selector, event-select, async-select, iocp, engine, got "epoll"/,
  ],
  [["serve", "echo", "--framing", "xml"], /Framing must be one of raw, lp4, varint, lines, got "xml"/],
  [["serve", "omok", "--grace", "soon"], /Grace must be a number from 0 to 86400, got "soon"/],
  [["serve", "chat", "--host", ""], /Host must not be empty, got ""/],
  [["client"], /Client needs a kind: echo, chat or omok/],
  [["client", "ftp"], /Unknown client "ftp": use echo, chat or omok/],
  [["client", "echo", "--framing", "json"], /Framing must be one of raw, lp4, varint, lines, got "json"/],
  [["client", "chat", "--port", "-3"], /Port must be an integer from 0 to 65535, got "-3"/],
  [["bench"], /Bench needs a benchmark: models/],
  [["bench", "engine"], /Unknown benchmark "engine": use models/],
  [["bench", "models", "--connections", "0"], /Connections must be an integer from 1 to 100000, got "0"/],
  [["bench", "models", "--connections", "100,lots"], /Connections must be an integer from 1 to 100000, got "lots"/],
  [["bench", "models", "--seconds", "0"], /Seconds must be a number from 0.1 to 3600, got "0"/],
  [["bench", "models", "--runtime", "deno,java"], /Runtime must be one of deno, bun, node, got "java"/],
  [["bench", "models", "--models", "select,epoll"], /Model must be one of adapter, blocking, .*, got "epoll"/],
  [["bench", "models", "--framing", "lines"], /Framing must be one of raw, lp4, got "lines"/],
];

describe("sockmodels arguments", () => {
  for (const [args, message] of BAD) {
    test(`exit code 2 for: sockmodels ${args.join(" ")}`, async () => {
      const io = testIo();
      assert.equal(await runCli(args, io), 2);
      assert.match(io.err, message);
      assert.match(io.err, /^sockmodels: [A-Z]/, "errors are sentences");
      assert.equal(io.out, "");
    });
  }

  for (
    const args of [
      ["--help"],
      ["serve", "--help"],
      ["serve", "chat", "--help"],
      ["serve", "echo", "-h"],
      ["serve", "omok", "--help"],
      ["client", "--help"],
      ["client", "echo", "--help"],
      ["client", "chat", "--help"],
      ["client", "omok", "--help"],
      ["bench", "--help"],
      ["bench", "models", "--help"],
    ]
  ) {
    test(`--help: sockmodels ${args.join(" ")}`, async () => {
      const io = testIo();
      assert.equal(await runCli(args, io), 0);
      assert.match(io.out, /^Usage: sockmodels /);
      assert.equal(io.err, "");
    });
  }

  test("help serve chat shows the chat server's help, as serve chat --help does", async () => {
    const viaHelp = testIo();
    const viaOption = testIo();
    assert.equal(await runCli(["help", "serve", "chat"], viaHelp), 0);
    assert.equal(await runCli(["serve", "chat", "--help"], viaOption), 0);
    assert.match(viaHelp.out, /^Usage: sockmodels serve chat \[options\]/);
    assert.equal(viaHelp.out, viaOption.out);
  });

  test("serve --help gives each server a whole first sentence", async () => {
    const io = testIo();
    assert.equal(await runCli(["serve", "--help"], io), 0);
    assert.match(io.out, /omok {2}Two-player omok \(gomoku\) on a 15x15 board\.\n/);
    assert.match(io.out, /chat {2}A chat server: every line goes to everyone in the sender's room\.\n/);
  });
});

describe("the sockmodels process", () => {
  test("bad arguments exit with code 2; --help with 0", async () => {
    const bad = spawnCli(["serve", "chat", "--port", "70000"]);
    assert.equal(await within(bad.exited, 30_000, "the CLI to exit"), 2);
    assert.match(bad.result.err, /^sockmodels: Port must be an integer from 0 to 65535, got "70000"/);
    const help = spawnCli(["--help"]);
    assert.equal(await within(help.exited, 30_000, "the CLI to exit"), 0);
    assert.match(help.result.out, /^Usage: sockmodels <command>/);
  });

  test("serve chat prints listening on, serves nc-style clients, and stops gracefully on SIGINT", async () => {
    const run = spawnCli(["serve", "chat", "--port", "0"]);
    try {
      await waitFor(() => /listening on 127\.0\.0\.1:\d+\n/.test(run.result.out), "the listening line", 30_000);
      const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(run.result.out)![1]);
      const client = await LineClient.connect(port);
      await client.expect(/^\* Welcome, guest1!/);
      client.send("hello");
      await client.expect("guest1: hello");
      await waitFor(() => run.result.out.includes("#"), "the connection's log line");
      run.result.child.kill("SIGINT");
      const code = await within(run.exited, 15_000, "the server to stop");
      if (detectRuntime() === "deno" && code === null) {
        // Deno's node:child_process reports a child it sent SIGINT to as killed by it, even
        // when the child handled the signal and exited with 0 (Deno.Command reports 0).
        assert.equal(run.result.signal, "SIGINT");
      } else {
        assert.equal(code, 0);
      }
      assert.match(run.result.out, /#\d+ connected from 127\.0\.0\.1:\d+\n/);
      assert.match(run.result.out, /SIGINT: shutting down\n/);
      assert.match(run.result.out, /stopped after 1 connection, 1 message in and \d+ out\n$/);
      await client.expect("* The server is shutting down");
      await waitFor(() => client.closed, "the client to be closed");
    } finally {
      if (run.result.code === undefined) run.result.child.kill("SIGKILL");
    }
  });
});

describe("server output", () => {
  test("an open record names the peer, or says that its address was gone", () => {
    const known = openRecord(7, { hostname: "::1", port: 5000, family: "IPv6" });
    assert.deepEqual(known, { event: "open", message: "#7 connected from [::1]:5000", id: 7, remote: "[::1]:5000" });
    // A stream handed over without its peer address (a transport of the caller's own).
    const gone = openRecord(8, { hostname: "", port: 0, family: "IPv4" });
    assert.equal(gone.remote, null);
    assert.equal(gone.message, "#8 connected from a peer whose address was gone (it reset at once)");
    const both = openRecord(
      9,
      { hostname: "203.0.113.7", port: 40000, family: "IPv4" },
      { protocol: "TLSv1.3", alpnProtocol: "h2" },
      { version: 2, command: "PROXY", family: "inet", protocol: "stream", tlvs: [] },
    );
    assert.equal(both.message, "#9 connected from 203.0.113.7:40000 (TLSv1.3 h2) via PROXY v2");
    assert.deepEqual([both.tls, both.alpn, both.proxy], ["TLSv1.3", "h2", 2]);
  });

  test("a connection closed for what its client sent is logged with the reason", async () => {
    const io = testIo();
    const running = runCli(["serve", "echo", "--framing", "lp4", "--port", "0"], io);
    await waitFor(() => /listening on 127\.0\.0\.1:\d+/.test(io.out), "the listening line");
    const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(io.out)![1]);
    const client = await LineClient.connect(port, { lp4: true });
    client.stream.write(new Uint8Array([0xff, 0xff, 0xff, 0xff]));
    await waitFor(() => client.closed, "the server to close the connection");
    await waitFor(
      () => /#\d+ closed \(EFRAMETOOLARGE: Frame length \d+ exceeds the limit of 16777216 bytes\)/.test(io.out),
      `the reason in the log; got ${io.out}`,
    );
    io.stop();
    assert.equal(await within(running, 10_000, "the server to stop"), 0);
  });

  test("--json logs one object per line, and the echo server counts messages", async () => {
    const io = testIo();
    const running = runCli(["serve", "echo", "--model", "poll", "--framing", "lines", "--port", "0", "--json"], io);
    await waitFor(() => io.out.includes('"event":"listening"'), "the listening record");
    const listening = JSON.parse(io.out.split("\n")[0]);
    assert.equal(listening.event, "listening");
    assert.match(listening.message, /^listening on 127\.0\.0\.1:\d+$/);
    assert.equal(listening.model, "poll");
    const port = Number(listening.address.split(":").at(-1));
    const client = await LineClient.connect(port);
    client.send("one", "two", "three");
    await client.expect("three");
    assert.deepEqual(client.lines, ["one", "two", "three"]);
    client.stream.end();
    await waitFor(() => client.closed, "the echo to close");
    await waitFor(() => io.out.includes('"event":"close"'), "the close record");
    io.stop();
    assert.equal(await within(running, 10_000, "the server to stop"), 0);
    const records = io.out.trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(records.map((r) => r.event), ["listening", "open", "close", "stopping", "stopped"]);
    for (const r of records) assert.match(r.time, /^\d{4}-\d\d-\d\dT/);
    const stopped = records.at(-1);
    assert.equal(stopped.messagesIn, 3);
    assert.equal(stopped.messagesOut, 3);
    assert.equal(stopped.accepted, 1);
  });

  test("a terminal gets a live stats line, redrawn once a second, with log lines above it", async () => {
    let out = "";
    const output = new ServerOutput({ write: (t) => (out += t), terminal: true, json: false });
    let messages = 0;
    output.startStats(() => ({
      connections: 2,
      accepted: 2,
      messagesIn: messages += 50,
      messagesOut: messages * 2,
      bytesIn: 2048,
      bytesOut: 4096,
      errors: 0,
      queuedBytes: 0,
    }));
    await sleep(1150);
    output.log({ event: "open", message: "#7 connected from 127.0.0.1:5000" });
    output.stop();
    const clear = "\r\u001b[2K";
    assert.ok(out.startsWith(clear), JSON.stringify(out));
    assert.match(
      out.slice(clear.length),
      /^2 connections \| in \d+ msg\/s, out \d+ msg\/s \| 2\.0 KiB in, 4\.0 KiB out \| 0 errors \| queue 0 B/,
    );
    assert.ok(
      out.includes(`${clear}#7 connected from 127.0.0.1:5000\n2 connections | `),
      "a log line clears the live line, then redraws it",
    );
    assert.ok(out.endsWith("\r\x1b[2K"), "stopping clears the live line");
    const line = formatStatsLine(
      {
        connections: 1,
        accepted: 1,
        messagesIn: 0,
        messagesOut: 0,
        bytesIn: 0,
        bytesOut: 0,
        errors: 1,
        queuedBytes: 3 << 20,
      },
      12.4,
      0,
    );
    assert.equal(line, "1 connection | in 12 msg/s, out 0 msg/s | 0 B in, 0 B out | 1 error | queue 3.0 MiB");
  });

  test("client echo sends each typed line and prints each reply", async () => {
    const server = testIo();
    const serving = runCli(
      ["serve", "echo", "--model", "select", "--framing", "varint", "--port", "0", "--quiet"],
      server,
    );
    await waitFor(() => /listening on/.test(server.out), "the listening line");
    const port = /listening on 127\.0\.0\.1:(\d+)/.exec(server.out)![1];
    const client = testIo(["hello", "wörld", ""]);
    assert.equal(
      await within(runCli(["client", "echo", "--framing", "varint", "--port", port], client), 10_000, "the client"),
      0,
    );
    assert.equal(client.out, "hello\nwörld\n\n");
    server.stop();
    assert.equal(await within(serving, 10_000, "the server to stop"), 0);
    assert.equal(server.out, `listening on 127.0.0.1:${port}\n`, "--quiet prints only the listening line");
  });

  test("client --json prints one object per line: connected, each message, and how it ended", async () => {
    const server = testIo();
    const serving = runCli(["serve", "echo", "--model", "poll", "--framing", "lp4", "--port", "0", "--quiet"], server);
    await waitFor(() => /listening on/.test(server.out), "the listening line");
    const port = /listening on 127\.0\.0\.1:(\d+)/.exec(server.out)![1];
    const client = testIo(["one", "two"]);
    const args = ["client", "echo", "--framing", "lp4", "--port", port, "--json"];
    assert.equal(await within(runCli(args, client), 10_000, "the client"), 0);
    assert.deepEqual(client.out.trimEnd().split("\n").map((line) => JSON.parse(line)), [
      { event: "connected", host: "127.0.0.1", port: Number(port) },
      { event: "message", text: "one" },
      { event: "message", text: "two" },
      { event: "closed", by: "client", sent: 2, received: 2 },
    ]);
    server.stop();
    assert.equal(await within(serving, 10_000, "the server to stop"), 0);
  });

  test("client chat sends each typed line, prints the room, and says /quit when input ends", async () => {
    const server = testIo();
    const serving = runCli(["serve", "chat", "--model", "blocking", "--port", "0", "--quiet"], server);
    await waitFor(() => /listening on/.test(server.out), "the listening line");
    const port = /listening on 127\.0\.0\.1:(\d+)/.exec(server.out)![1];
    const other = await LineClient.connect(Number(port));
    await other.expect(/^\* Welcome, guest1!/);
    const client = testIo(["/nick zed", "hi all"]);
    assert.equal(await within(runCli(["client", "chat", "--port", port], client), 10_000, "the client"), 0);
    assert.match(client.out, /^\* Welcome, guest2! You are in room lobby\./);
    assert.match(client.out, /\n\* guest2 is now zed\nzed: hi all\n\* Bye, zed!\n/);
    await other.expect("zed: hi all");
    await other.expect("* zed left lobby");
    other.close();
    server.stop();
    assert.equal(await within(serving, 10_000, "the server to stop"), 0);
  });

  test("a port in use is a clear error with exit code 1", async () => {
    const first = testIo();
    const serving = runCli(["serve", "echo", "--port", "0", "--quiet"], first);
    await waitFor(() => /listening on/.test(first.out), "the listening line");
    const port = /listening on 127\.0\.0\.1:(\d+)/.exec(first.out)![1];
    const second = testIo();
    assert.equal(await runCli(["serve", "chat", "--port", port], second), 1);
    assert.match(second.err, new RegExp(`^sockmodels: Cannot listen on 127\\.0\\.0\\.1:${port}: `));
    first.stop();
    await within(serving, 10_000, "the server to stop");
  });
});
