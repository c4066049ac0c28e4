/**
 * `sockmodels bench models` as a smoke run: 10 connections per model for about a second
 * each, on this runtime. It checks that the benchmark runs and writes its table, JSON and
 * chart; it is not a timing.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MODELS as ECHO_MODELS } from "../../src/hosts/mod.ts";
import { medianRows, type ModelsBenchRow } from "../../src/cli/models_bench.ts";
import { runCli } from "../../src/cli/run_cli.ts";
import { barChartsSvg, escapeXml, niceCeiling } from "../../src/cli/svg_chart.ts";
import { cliCommandLine, runtimeExecutable } from "../../src/cli/cli_location.ts";
import { detectRuntime } from "../../src/runtime/detect.ts";
import { currentExecutable, findExecutable } from "../../src/platform/process.ts";
import { within } from "../helpers/net.ts";
import { testIo } from "./_helpers.ts";

describe("bench models", () => {
  test("a one-second smoke run of every model writes the table, the JSON and the chart", async () => {
    const out = mkdtempSync(join(tmpdir(), "sockmodels-bench-"));
    try {
      const runtime = detectRuntime();
      const io = testIo();
      const args = [
        "bench",
        "models",
        "--connections",
        "10",
        "--seconds",
        "1",
        "--warmup",
        "0.2",
        "--runtime",
        runtime,
        "--out",
        out,
      ];
      const code = await within(runCli(args, io), 240_000, "the smoke run");
      assert.equal(code, 0, io.err);

      const table = io.out.split("\n").filter((l) => l.startsWith(`| ${runtime} |`));
      assert.equal(table.length, ECHO_MODELS.length, io.out);
      assert.match(
        io.out,
        /\| runtime \| connections \| model \| msgs\/s \| p50 µs \| p99 µs \| server CPU µs\/msg \| memory\/conn KiB \| errors \|/,
      );
      for (const model of ECHO_MODELS) {
        assert.ok(table.some((l) => l.startsWith(`| ${runtime} | 10 | ${model} | `)), `a row for ${model}`);
      }
      assert.equal(readFileSync(join(out, "models.md"), "utf8"), io.out);

      const json = JSON.parse(readFileSync(join(out, "models.json"), "utf8"));
      assert.equal(json.benchmark, "models");
      assert.equal(json.rows.length, ECHO_MODELS.length);
      for (const row of json.rows) {
        assert.equal(row.error, undefined, `${row.model}: ${row.error}`);
        assert.equal(row.byteErrors, 0);
        assert.ok(row.msgsPerSec > 0, `${row.model} echoed messages`);
        assert.ok(row.cpuUsPerMsg > 0 && row.p99us >= row.p50us);
        assert.equal(typeof row.memoryPerConnectionBytes, "number");
      }

      const svg = readFileSync(join(out, "models.svg"), "utf8");
      assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
      assert.match(svg, /Throughput, 10 connections/);
      assert.match(svg, /Server CPU per message, 10 connections/);
      for (const model of ECHO_MODELS) assert.ok(svg.includes(`>${model}</text>`), `the chart names ${model}`);
      assert.equal(
        (svg.match(/<rect x=/g) ?? []).length,
        2 * ECHO_MODELS.length + 2,
        "a bar per model per chart, and the legends",
      );
      assert.match(io.err, /wrote .*models\.md/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  test("--json prints the measurements that models.json holds, instead of the table", async () => {
    const out = mkdtempSync(join(tmpdir(), "sockmodels-bench-"));
    try {
      const runtime = detectRuntime();
      const io = testIo();
      const args = ["bench", "models", "--connections", "10", "--seconds", "0.5", "--warmup", "0.1"];
      args.push("--runtime", runtime, "--models", "selector", "--json", "--out", out);
      assert.equal(await within(runCli(args, io), 120_000, "the run"), 0, io.err);
      const printed = JSON.parse(io.out);
      assert.equal(printed.benchmark, "models");
      assert.deepEqual(printed.rows.map((r: { model: string }) => r.model), ["selector"]);
      assert.ok(printed.rows[0].msgsPerSec > 0);
      assert.equal(io.out, readFileSync(join(out, "models.json"), "utf8"));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  test("--baseline adds the adapter echo and a CPU ratio column; --rounds takes medians", async () => {
    const out = mkdtempSync(join(tmpdir(), "sockmodels-bench-"));
    try {
      const runtime = detectRuntime();
      const io = testIo();
      const args = [
        "bench",
        "models",
        "--connections",
        "10",
        "--seconds",
        "0.5",
        "--warmup",
        "0.1",
        "--runtime",
        runtime,
        "--models",
        "poll",
        "--baseline",
        "--rounds",
        "2",
        "--out",
        out,
      ];
      const code = await within(runCli(args, io), 120_000, "the baseline run");
      assert.equal(code, 0, io.err);
      assert.match(io.out, /median of 2 rounds/);
      assert.match(io.out, /\| server CPU µs\/msg \| CPU vs adapter \| memory\/conn KiB \|/);
      const table = io.out.split("\n").filter((l) => l.startsWith(`| ${runtime} |`));
      assert.equal(table.length, 2, io.out);
      assert.match(table[0], new RegExp(`^\\| ${runtime} \\| 10 \\| adapter \\| .* \\| 1\\.00x \\|`));
      assert.match(table[1], new RegExp(`^\\| ${runtime} \\| 10 \\| poll \\| .* \\| \\d+\\.\\d\\dx \\|`));
      assert.match(io.err, /round 2: /);
      const json = JSON.parse(readFileSync(join(out, "models.json"), "utf8"));
      assert.equal(json.rounds, 2);
      assert.deepEqual(json.rows.map((r: { model: string }) => r.model), ["adapter", "poll"]);
      assert.deepEqual(
        json.measurements.map((r: { model: string; round: number }) => `${r.round} ${r.model}`),
        ["1 adapter", "1 poll", "2 adapter", "2 poll"],
      );
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  test("medianRows: the median of each figure over the rounds, failures kept, errors summed", () => {
    const row = (round: number, cpu: number, extra: Partial<ModelsBenchRow> = {}): ModelsBenchRow => ({
      runtime: "node",
      model: "poll",
      round,
      connections: 100,
      msgsPerSec: cpu * 1000,
      p50us: cpu,
      p99us: cpu * 2,
      cpuUsPerMsg: cpu,
      memoryPerConnectionBytes: 1024,
      byteErrors: 0,
      ...extra,
    });
    const [cell] = medianRows([row(1, 3), row(2, 1, { byteErrors: 2 }), row(3, 2)]);
    assert.equal(cell.cpuUsPerMsg, 2);
    assert.equal(cell.msgsPerSec, 2000);
    assert.equal(cell.p99us, 4);
    assert.equal(cell.byteErrors, 2);
    assert.equal(cell.round, 3);
    assert.equal(cell.error, undefined);
    const [even] = medianRows([row(1, 1), row(2, 4)]);
    assert.equal(even.cpuUsPerMsg, 2.5);
    const [failed] = medianRows([row(1, 1), row(2, Number.NaN, { error: "the server did not start" })]);
    assert.equal(failed.cpuUsPerMsg, 1, "a failed round does not count in the median");
    assert.equal(failed.error, "the server did not start", "but the failure shows");
    assert.equal(medianRows([row(1, 1), row(1, 2, { model: "iocp" })]).length, 2, "one cell per model");
  });
});

describe("finding the runtimes", () => {
  test("node_modules/.bin under a root first, then PATH; nothing found is undefined", () => {
    const root = mkdtempSync(join(tmpdir(), "sockmodels-bin-"));
    try {
      mkdirSync(join(root, "node_modules", ".bin"), { recursive: true });
      const fake = join(root, "node_modules", ".bin", "fakeruntime");
      writeFileSync(fake, "#!/bin/sh\n");
      chmodSync(fake, 0o755);
      assert.equal(findExecutable("fakeruntime", [join(root, "elsewhere"), root]), fake);
      assert.equal(findExecutable("sockmodels-no-such-runtime", [root]), undefined);
      assert.equal(runtimeExecutable(detectRuntime()), currentExecutable(), "this runtime runs its own servers");
      const { command, args } = cliCommandLine(detectRuntime(), ["--help"]);
      assert.equal(command, currentExecutable());
      assert.match(args.join(" "), /src\/cli\/main\.(ts|js) --help$/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("the SVG writer", () => {
  test("draws grouped bars with a scale, and escapes text", () => {
    assert.equal(niceCeiling(73_000), 100_000);
    assert.equal(niceCeiling(3.2), 5);
    assert.equal(niceCeiling(0), 1);
    assert.equal(escapeXml(`<a & "b">`), "&lt;a &amp; &quot;b&quot;&gt;");
    const svg = barChartsSvg([{
      title: "Throughput <test>",
      unit: "msgs/s",
      categories: ["select", "iocp"],
      series: [{ name: "deno", values: [50, 100] }, { name: "node", values: [25, Number.NaN] }],
    }]);
    assert.match(svg, /Throughput &lt;test&gt;/);
    assert.equal((svg.match(/<rect x=/g) ?? []).length, 3 + 2, "three bars (NaN draws none) and two legend keys");
    assert.match(svg, /<title>deno, iocp: 100 msgs\/s<\/title>/);
  });
});
