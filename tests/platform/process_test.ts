import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import {
  absolutePath,
  currentExecutable,
  filePathOf,
  findExecutable,
  isMainModule,
  nextEventLoopTurn,
  openFileLimit,
  parentDirectory,
  parseCommandLine,
  pathExists,
  processCpuSeconds,
  processResidentBytes,
  startProcess,
  writeTextFile,
} from "../../src/platform/process.ts";

describe("platform/process", () => {
  test("parseCommandLine reports options, inline values and positionals as tokens", () => {
    const { positionals, tokens } = parseCommandLine(["serve", "--port=9000", "-v", "--json", "x"], {
      port: { type: "string" },
      verbose: { type: "boolean", short: "v" },
      json: { type: "boolean" },
    });
    assert.deepEqual(positionals, ["serve", "x"]);
    const options = tokens.filter((t) => t.kind === "option");
    assert.deepEqual(options.map((t) => [t.name, t.value, t.inlineValue]), [
      ["port", "9000", true],
      ["verbose", undefined, false],
      ["json", undefined, false],
    ]);
    assert.equal(options[1].rawName, "-v");
  });

  test("paths, files and the executable", () => {
    const dir = mkdtempSync(join(tmpdir(), "sockmodels-platform-"));
    try {
      const file = absolutePath(dir, "a", "..", "out.txt");
      assert.equal(file, join(dir, "out.txt"));
      assert.equal(parentDirectory(file), dir);
      assert.equal(pathExists(file), false);
      writeTextFile(file, "hello\n");
      assert.equal(pathExists(file), true);
      assert.equal(readFileSync(file, "utf8"), "hello\n");
      assert.equal(filePathOf(new URL(`file://${file}`)), file);
      assert.ok(pathExists(currentExecutable()), currentExecutable());
      assert.equal(findExecutable("no-such-tool-of-sockmodels", [dir]), undefined);
      assert.ok(findExecutable("deno", [process.cwd()])?.endsWith("deno"));
      assert.equal(isMainModule(new URL("./not_the_main_module.ts", import.meta.url).href), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("startProcess runs a child and reports its output and exit code", async () => {
    let out = "";
    const child = startProcess("sh", ["-c", "echo started; exit 3"], { onStdout: (t) => (out += t) });
    assert.ok(child.pid > 0);
    assert.equal(await child.exited, 3);
    assert.equal(child.hasExited, true);
    assert.equal(out, "started\n");
    const missing = startProcess("/no/such/program", []);
    await assert.rejects(missing.exited, /Could not start \/no\/such\/program/);
  });

  test("CPU time, resident memory and the open-file limit come from /proc", async () => {
    const rss = processResidentBytes(process.pid);
    assert.ok(rss > 1024 * 1024, `resident ${rss} bytes`);
    const before = processCpuSeconds(process.pid);
    const until = Date.now() + 60;
    while (Date.now() < until) {
      // spin, so that CPU time grows
    }
    assert.ok(processCpuSeconds(process.pid) >= before);
    assert.ok((openFileLimit() ?? 0) > 0);
    assert.throws(() => processCpuSeconds(2 ** 30), /Cannot read \/proc\/1073741824\/stat/);
    await nextEventLoopTurn();
  });
});
