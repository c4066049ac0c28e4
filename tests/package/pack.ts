/**
 * Packs the npm build with `npm pack`, installs the tarball into a fresh project, imports it
 * from Node, Bun and Deno and with `require()`, type-checks a strict consumer, runs the CLI
 * through `npx`, and checks that `npm publish --dry-run` has nothing to warn about. Run by the
 * test matrix after the build, under Node only: it drives the other runtimes itself.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";

const root = process.cwd();
const subpaths = Object.keys(JSON.parse(readFileSync(join(root, "npm", "package.json"), "utf8")).exports)
  .filter((subpath) => !subpath.endsWith(".json") && subpath !== "./cli");

const CHECK = `
import { memoryTransport, NetError, describeError } from "sockmodels";
import { nodeTransport } from "sockmodels/runtime/node";
const listener = await memoryTransport.listen({ port: 0, onAccept(s) {
  s.setHandlers({ onData: (c) => s.write(c), onEnd: () => s.end() });
}});
const client = await memoryTransport.connect({ hostname: "127.0.0.1", port: listener.addr.port });
let got = "";
await new Promise((resolve) => {
  client.setHandlers({ onData: (c) => (got += new TextDecoder().decode(c)), onClose: resolve });
  client.write(new TextEncoder().encode("packed"));
  client.end();
});
await listener.close();
if (got !== "packed") throw new Error("echo over the packed build failed: " + got);
if (typeof nodeTransport.listen !== "function") throw new Error("subpath export missing");
if (!(new NetError("ECONNRESET") instanceof Error)) throw new Error("NetError broken");
for (const subpath of SUBPATHS) {
  const exported = await import(subpath === "." ? "sockmodels" : "sockmodels" + subpath.slice(1));
  if (Object.keys(exported).length === 0) throw new Error("subpath " + subpath + " exports nothing");
}
console.log("ok " + describeError(10054) + " " + SUBPATHS.length + " subpaths");
`;

/** A strict consumer that imports every subpath and touches a type from each kind of module. */
const CONSUMER_TS = (subpaths: string[]) =>
  subpaths.map((subpath, i) =>
    `import * as m${i} from "${subpath === "." ? "sockmodels" : "sockmodels" + subpath.slice(1)}";`
  )
    .join("\n") + `
import type { Stream, Listener } from "sockmodels";
export async function closeBoth(stream: Stream, listener: Listener): Promise<void> {
  await stream[Symbol.asyncDispose]();
  await listener.close();
}
export const all = [${subpaths.map((_, i) => `m${i}`).join(", ")}];
`;

function tsconfig(module: string, moduleResolution: string): string {
  return JSON.stringify({
    compilerOptions: {
      strict: true,
      noEmit: true,
      module,
      moduleResolution,
      target: "ES2022",
      // No DOM: the typings must bring what they use.
      lib: ["ES2022"],
      types: ["node"],
      typeRoots: [join(root, "node_modules", "@types")],
      skipLibCheck: false,
    },
    files: ["consumer.ts"],
  });
}

function run(command: string, args: string[], cwd: string): { status: number | null; output: string } {
  const r = spawnSync(command, args, { cwd, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe("the npm package, installed into a fresh project", () => {
  let dir = "";
  let project = "";
  let tarball = "";

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "sockmodels-pack-"));
    const out = execFileSync("npm", ["pack", "--silent", "--pack-destination", dir, join(root, "npm")], {
      encoding: "utf8",
    });
    tarball = readdirSync(dir).find((f) => f.endsWith(".tgz")) ?? "";
    assert.ok(tarball, `npm pack produced no tarball: ${out}`);
    project = join(dir, "project");
    mkdirSync(project);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", type: "module", private: true }));
    execFileSync("npm", ["install", "--offline", "--no-audit", "--no-fund", "--silent", join(dir, tarball)], {
      cwd: project,
      encoding: "utf8",
    });
    writeFileSync(join(project, "check.mjs"), `const SUBPATHS = ${JSON.stringify(subpaths)};\n${CHECK}`);
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  test("the tarball holds the build and no tests", () => {
    const files = execFileSync("tar", ["-tzf", join(dir, tarball)], { encoding: "utf8" });
    assert.match(files, /package\/esm\/src\/runtime\/node\.js/);
    assert.doesNotMatch(files, /package\/esm\/tests\//, "tests must not be published");
    assert.ok(subpaths.includes("./models") && subpaths.includes("./hosts"), `subpaths: ${subpaths.join(", ")}`);
  });

  test("every relative link of the published README resolves inside the package", () => {
    const installed = join(project, "node_modules", "sockmodels");
    const readme = readFileSync(join(installed, "README.md"), "utf8");
    const links = [...readme.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)].map((m) => m[1])
      .filter((link) => !/^[a-z]+:/.test(link));
    assert.ok(links.length > 0, "the README links into docs/");
    const missing = links.filter((link) => !existsSync(join(installed, link)));
    assert.deepEqual(missing, [], `links to files the package lacks: ${missing.join(", ")}`);
  });

  for (
    const [name, command, args] of [
      ["Node", process.execPath, ["check.mjs"]],
      ["Bun", join(root, "node_modules", ".bin", "bun"), ["check.mjs"]],
      ["Deno", join(root, "node_modules", ".bin", "deno"), ["run", "-A", "check.mjs"]],
    ] as const
  ) {
    test(`every subpath imports and runs from ${name}`, () => {
      const r = run(command, [...args], project);
      assert.equal(r.status, 0, r.output);
      assert.match(r.output, new RegExp(`^ok The connection was reset by the peer\\. ${subpaths.length} subpaths`));
    });
  }

  test("require() loads every subpath on Node", () => {
    const requireAll = `for (const s of ${JSON.stringify(subpaths)}) {
      const m = require(s === "." ? "sockmodels" : "sockmodels" + s.slice(1));
      if (Object.keys(m).length === 0) throw new Error("subpath " + s + " exports nothing");
    }
    console.log(require("sockmodels/package.json").name);`;
    writeFileSync(join(project, "require_all.cjs"), requireAll);
    const r = run(process.execPath, ["require_all.cjs"], project);
    assert.equal(r.status, 0, r.output);
    assert.equal(r.output.trim(), "sockmodels");
  });

  for (const [module, resolution] of [["nodenext", "nodenext"], ["esnext", "bundler"]]) {
    test(`a strict consumer type-checks in ${resolution} mode, with no DOM lib and no skipLibCheck`, () => {
      writeFileSync(join(project, "consumer.ts"), CONSUMER_TS(subpaths));
      writeFileSync(join(project, "tsconfig.json"), tsconfig(module, resolution));
      const r = run(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "."], project);
      assert.equal(r.status, 0, r.output);
    });
  }

  test("the ./cli export runs the CLI", () => {
    writeFileSync(join(project, "cli.mjs"), `await import("sockmodels/cli");\n`);
    const r = run(process.execPath, ["cli.mjs", "--version"], project);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /^sockmodels \d+\.\d+\.\d+/);
  });

  test("npx sockmodels --help runs the CLI", () => {
    const r = run("npx", ["--offline", "sockmodels", "--help"], project);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /serve/);
  });

  test("npm publish --dry-run gives no warning", () => {
    // A token that is never sent: without one, the dry run warns that a real publish needs a login.
    const npmrc = join(dir, "npmrc");
    writeFileSync(npmrc, "//registry.npmjs.org/:_authToken=dry-run-only\n");
    const r = run("npm", ["publish", "--dry-run", "--offline", "--userconfig", npmrc], join(root, "npm"));
    assert.equal(r.status, 0, r.output);
    assert.doesNotMatch(r.output, /npm warn/i);
  });
});
