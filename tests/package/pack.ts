/**
 * Packs the npm build with `npm pack`, installs the tarball into a fresh project, and imports
 * it from Node and Bun. Run by the test matrix after the build, under Node only: it drives
 * both runtimes itself.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";

const root = process.cwd();
const subpaths = Object.keys(JSON.parse(readFileSync(join(root, "npm", "package.json"), "utf8")).exports);

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

test("npm pack installs into a fresh project and imports from Node and Bun", () => {
  const dir = mkdtempSync(join(tmpdir(), "sockmodels-pack-"));
  try {
    const out = execFileSync("npm", ["pack", "--silent", "--pack-destination", dir, join(root, "npm")], {
      encoding: "utf8",
    });
    const tarball = readdirSync(dir).find((f) => f.endsWith(".tgz"));
    assert.ok(tarball, `npm pack produced no tarball: ${out}`);
    const files = execFileSync("tar", ["-tzf", join(dir, tarball)], { encoding: "utf8" });
    assert.match(files, /package\/esm\/src\/runtime\/node\.js/);
    assert.doesNotMatch(files, /package\/esm\/tests\//, "tests must not be published");
    const project = join(dir, "project");
    execFileSync("mkdir", ["-p", project]);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", type: "module", private: true }));
    execFileSync("npm", ["install", "--offline", "--no-audit", "--no-fund", "--silent", join(dir, tarball)], {
      cwd: project,
      encoding: "utf8",
    });
    writeFileSync(join(project, "check.mjs"), `const SUBPATHS = ${JSON.stringify(subpaths)};\n${CHECK}`);
    const fromNode = execFileSync(process.execPath, ["check.mjs"], { cwd: project, encoding: "utf8" });
    assert.match(fromNode, new RegExp(`^ok The connection was reset by the peer\\. ${subpaths.length} subpaths`));
    assert.ok(subpaths.includes("./models") && subpaths.includes("./hosts"), `subpaths: ${subpaths.join(", ")}`);
    const bun = join(root, "node_modules", ".bin", "bun");
    const fromBun = execFileSync(bun, ["check.mjs"], { cwd: project, encoding: "utf8" });
    assert.match(fromBun, new RegExp(`^ok The connection was reset by the peer\\. ${subpaths.length} subpaths`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
