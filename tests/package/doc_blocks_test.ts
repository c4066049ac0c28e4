/**
 * Every fenced `ts` block of README.md and docs/*.md type-checks as written, against the
 * package's own import names (`sockmodels/...`, which deno.json maps to the sources), and every
 * block fenced as `ts run` also runs to completion. A block that shows part of a program
 * declares what it assumes (`declare const stream: Stream;`), so that it still type-checks.
 *
 * The blocks are checked and run by Deno, whichever runtime runs this file: only Deno reads
 * deno.json's import map.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";

const root = process.cwd();
const deno = join(root, "node_modules", ".bin", "deno");

interface DocBlock {
  /** Where the block starts, as FILE:LINE. */
  where: string;
  code: string;
  run: boolean;
}

function docBlocks(): DocBlock[] {
  const files = [
    "README.md",
    ...readdirSync(join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`),
  ];
  const blocks: DocBlock[] = [];
  for (const file of files) {
    const lines = readFileSync(join(root, file), "utf8").split("\n");
    for (let i = 0; i < lines.length; i++) {
      const fence = /^```(ts|typescript)(\s+run)?\s*$/.exec(lines[i]);
      if (!fence) continue;
      const start = i + 1;
      while (++i < lines.length && !lines[i].startsWith("```"));
      blocks.push({
        where: `${file}:${start}`,
        code: lines.slice(start, i).join("\n") + "\n",
        run: fence[2] !== undefined,
      });
    }
  }
  return blocks;
}

function fileName(block: DocBlock): string {
  return block.where.replace(/[/.:]/g, "_") + ".ts";
}

describe("the code blocks of the README and docs/", () => {
  const blocks = docBlocks();
  // Inside the repository, so that deno.json's import map resolves `sockmodels/...`.
  const dir = join(root, `.doc_blocks_${process.pid}`);

  before(() => {
    mkdirSync(dir, { recursive: true });
    // Each block is a module of its own, so that top-level await and names do not clash.
    for (const block of blocks) writeFileSync(join(dir, fileName(block)), block.code);
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  test("there are blocks, and some of them run", () => {
    assert.ok(blocks.length >= 8, `found only ${blocks.map((b) => b.where).join(", ")}`);
    assert.ok(blocks.some((b) => b.run));
  });

  test("every block type-checks as written", () => {
    const r = spawnSync(deno, ["check", "--quiet", ...blocks.map((b) => join(dir, fileName(b)))], {
      cwd: root,
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1" },
    });
    // Name the block, not the temporary file, in what a failure prints.
    let output = `${r.stdout}${r.stderr}`;
    for (const block of blocks) output = output.replaceAll(join(dir, fileName(block)), block.where);
    assert.equal(r.status, 0, output);
  });

  for (const block of blocks.filter((b) => b.run)) {
    test(`${block.where} runs to completion`, () => {
      const r = spawnSync(deno, ["run", "-A", join(dir, fileName(block))], {
        cwd: root,
        encoding: "utf8",
        timeout: 30_000,
        env: { ...process.env, NO_COLOR: "1" },
      });
      assert.equal(r.status, 0, `${block.where} failed:\n${r.stdout}${r.stderr}`);
    });
  }
});
