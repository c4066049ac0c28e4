/**
 * The import rules of docs/architecture.md, checked against the source: each folder of `src/`
 * imports only the folders its row of the table names.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import process from "node:process";

const root = process.cwd();
const src = join(root, "src");
const folders = readdirSync(src, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);

/** The "may import" column of the table, by folder. */
function allowedImports(): Map<string, Set<string>> {
  const doc = readFileSync(join(root, "docs", "architecture.md"), "utf8");
  const rules = new Map<string, Set<string>>();
  for (const line of doc.split("\n")) {
    const m = /^\| `src\/([a-z_]+)` +\| ([^|]+)\|/.exec(line);
    if (!m) continue;
    const cell = m[2].replace(/\(.*?\)/g, "").replaceAll("`", "");
    const names = cell.split(",").map((n) => n.trim().replace(/^and /, "")).filter((n) => n && n !== "nothing");
    const allowed = new Set(names.includes("everything below") ? folders : names.filter((n) => folders.includes(n)));
    allowed.add(m[1]);
    rules.set(m[1], allowed);
  }
  return rules;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? sourceFiles(join(dir, d.name)) : d.name.endsWith(".ts") ? [join(dir, d.name)] : []
  );
}

test("every folder of src imports only what docs/architecture.md allows it", () => {
  const rules = allowedImports();
  assert.deepEqual([...rules.keys()].sort(), [...folders].sort(), "the table has one row per folder of src");
  const broken: string[] = [];
  let imports = 0;
  for (const file of sourceFiles(src)) {
    const folder = relative(src, file).split(/[\\/]/)[0];
    const text = readFileSync(file, "utf8").replace(/\/\*\*[\s\S]*?\*\//g, ""); // not the doc examples
    for (const m of text.matchAll(/^(?:import|export)\b[^;]*?from "(\.[^"]+)"/gm)) {
      imports++;
      const target = relative(src, normalize(join(dirname(file), m[1]))).split(/[\\/]/)[0];
      if (!rules.get(folder)!.has(target)) broken.push(`${relative(root, file)} imports ${m[1]}`);
    }
  }
  assert.ok(imports > 100, `found only ${imports} relative imports`);
  assert.deepEqual(broken, []);
});
