/**
 * Builds the npm package into `npm/`: ESM JavaScript and `.d.ts` for `mod.ts`, `src/`,
 * `tests/`, `examples/` and `scripts/bench/` (emitted to `npm/esm/<same path>.js`, with
 * `.ts` imports rewritten to `.js`), then `npm/package.json` with the exports map taken from
 * `deno.json`, and README, LICENSE and docs/. Only `mod`, `src` and the docs are published.
 *
 * Usage: deno run -A scripts/build_npm.ts
 */
import ts from "typescript";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import process from "node:process";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "npm");

function compile(): void {
  const configPath = join(root, "tsconfig.json");
  const config = ts.readConfigFile(configPath, ts.sys.readFile);
  if (config.error) throw new Error(ts.flattenDiagnosticMessageText(config.error.messageText, "\n"));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, root);
  const program = ts.createProgram(parsed.fileNames, parsed.options);
  const result = program.emit();
  const diagnostics = [...ts.getPreEmitDiagnostics(program), ...result.diagnostics];
  if (diagnostics.length > 0) {
    const host: ts.FormatDiagnosticsHost = {
      getCanonicalFileName: (f) => f,
      getCurrentDirectory: () => root,
      getNewLine: () => "\n",
    };
    console.error(ts.formatDiagnosticsWithColorAndContext(diagnostics, host));
    throw new Error(`TypeScript reported ${diagnostics.length} problem(s); the npm build stopped`);
  }
}

/**
 * Our typings use `AsyncDisposable` and `Symbol.asyncDispose`, which a consumer's default
 * `lib` may lack: each `.d.ts` that names them references the lib that declares them.
 */
function referenceDisposableLib(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) referenceDisposableLib(path);
    else if (entry.name.endsWith(".d.ts")) {
      const text = readFileSync(path, "utf8");
      if (/AsyncDisposable|asyncDispose/.test(text)) {
        writeFileSync(path, `/// <reference lib="esnext.disposable" />\n${text}`);
      }
    }
  }
}

function toEsm(path: string): string {
  return "./esm/" + path.replace(/^\.\//, "").replace(/\.ts$/, "");
}

function writePackageJson(): void {
  const deno = JSON.parse(readFileSync(join(root, "deno.json"), "utf8"));
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  // `default` lets require() load the ESM where the runtime can (Node 20.19+, Bun, Deno).
  const exports: Record<string, { types: string; import: string; default: string } | string> = {};
  for (const [subpath, file] of Object.entries(deno.exports as Record<string, string>)) {
    const base = toEsm(file);
    exports[subpath] = { types: `${base}.d.ts`, import: `${base}.js`, default: `${base}.js` };
  }
  exports["./package.json"] = "./package.json";
  const manifest: Record<string, unknown> = {
    name: pkg.name,
    version: deno.version,
    description: pkg.description,
    license: pkg.license,
    type: "module",
    main: "./esm/mod.js",
    types: "./esm/mod.d.ts",
    exports,
    sideEffects: false,
    engines: { node: ">=20" },
    files: ["esm/mod.js", "esm/mod.d.ts", "esm/src/", "docs/", "README.md", "LICENSE"],
    keywords: pkg.keywords,
    repository: pkg.repository,
    homepage: pkg.homepage,
    bugs: pkg.bugs,
  };
  if (existsSync(join(root, "src/cli/main.ts"))) {
    // npm wants the path with no leading "./", or its publish warns that it removed the entry.
    manifest.bin = { sockmodels: "esm/src/cli/main.js" };
  }
  writeFileSync(join(out, "package.json"), JSON.stringify(manifest, null, 2) + "\n");
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
compile();
referenceDisposableLib(join(out, "esm"));
writePackageJson();
// The README links into docs/, so the docs ship beside it.
for (const file of ["README.md", "LICENSE", "docs"]) {
  if (existsSync(join(root, file))) cpSync(join(root, file), join(out, file), { recursive: true });
}
console.log(`built ${out}`);
process.exitCode = 0;
