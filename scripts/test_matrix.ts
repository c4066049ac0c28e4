/**
 * Runs the static checks (`deno fmt --check`, `deno lint`, `deno check --doc` over every
 * source file, which type-checks each JSDoc example, and `deno doc --lint` over the library's
 * entry points, which finds undocumented exports and private types in public ones), then the whole test suite under Deno, Bun
 * and Node (Node against the `npm/` build), and ends with one line `N passed, N failed` that
 * counts all of them. A runtime that runs no test, crashes or exceeds its time limit fails the
 * run.
 *
 * Usage: deno run -A scripts/test_matrix.ts [--only checks,deno,bun,node]
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import process from "node:process";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name: string) => join(root, "node_modules", ".bin", name);
const results = join(root, "npm", ".test-results");
const LIMIT_MS = 8 * 60 * 1000;

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
  failures: string[];
}

interface Run {
  runtime: string;
  command: string[];
  junit: string;
  /** Deno lists a describe block as a test case too, beside its steps. */
  parentsListed: boolean;
}

function run(command: string[], limitMs: number): Promise<{ code: number | null; timedOut: boolean }> {
  return new Promise((resolvePromise) => {
    const child = spawn(command[0], command.slice(1), {
      cwd: root,
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...process.env, NO_COLOR: "1" },
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, limitMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolvePromise({ code, timedOut });
    });
  });
}

function decode(text: string): string {
  return text.replace(/&gt;/g, ">").replace(/&lt;/g, "<").replace(/&quot;/g, '"').replace(/&amp;/g, "&");
}

function countJunit(file: string, parentsListed: boolean): Counts {
  const counts: Counts = { passed: 0, failed: 0, skipped: 0, failures: [] };
  if (!existsSync(file)) return counts;
  const xml = readFileSync(file, "utf8");
  const cases: { name: string; failed: boolean; skipped: boolean }[] = [];
  const re = /<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g;
  for (let m; (m = re.exec(xml));) {
    const attrs = m[1];
    const body = m[3] ?? "";
    const name = decode(/\bname="([^"]*)"/.exec(attrs)?.[1] ?? "?");
    const classname = decode(/\bclassname="([^"]*)"/.exec(attrs)?.[1] ?? "");
    cases.push({
      name: classname && !parentsListed ? `${classname} > ${name}` : name,
      failed: /<failure\b|<error\b/.test(body) || /\bfailure="/.test(attrs),
      skipped: /<skipped\b/.test(body),
    });
  }
  const names = cases.map((c) => c.name);
  for (const c of cases) {
    if (parentsListed && names.some((n) => n.startsWith(c.name + " > "))) continue;
    if (c.failed) {
      counts.failed++;
      counts.failures.push(c.name);
    } else if (c.skipped) counts.skipped++;
    else counts.passed++;
  }
  return counts;
}

const only = process.argv.includes("--only")
  ? process.argv[process.argv.indexOf("--only") + 1].split(",")
  : ["checks", "deno", "bun", "node"];

/** The files of deno.json's exports, but for the CLI's. */
function libraryEntryPoints(): string[] {
  const exports = JSON.parse(readFileSync(join(root, "deno.json"), "utf8")).exports as Record<string, string>;
  return Object.entries(exports).filter(([subpath]) => subpath !== "./cli").map(([, file]) => file);
}

const CHECKS: { name: string; command: string[] }[] = [
  { name: "deno fmt --check", command: [bin("deno"), "fmt", "--check"] },
  { name: "deno lint", command: [bin("deno"), "lint"] },
  { name: "deno check --doc mod.ts src/", command: [bin("deno"), "check", "--doc", "mod.ts", "src/"] },
  {
    name: "deno doc --lint on every library entry point",
    // The CLI entry runs the program when loaded and documents nothing; every other export is API.
    command: [bin("deno"), "doc", "--lint", ...libraryEntryPoints()],
  },
];

/**
 * The real servers the tests start (haproxy). On a Debian machine where this runs as root,
 * a missing one is installed with apt-get, and the run says so; elsewhere the tests that need
 * it fail and name the install command.
 */
const SERVER_PACKAGES = [
  { command: "haproxy", args: ["-v"], pkg: "haproxy" },
  { command: "redis-server", args: ["--version"], pkg: "redis-server" },
];

async function ensureServers(): Promise<void> {
  const missing = SERVER_PACKAGES.filter(({ command, args }) => spawnSync(command, args).status !== 0);
  if (missing.length === 0) return;
  const names = missing.map((m) => m.pkg).join(" ");
  const isRoot = process.getuid?.() === 0;
  if (!isRoot || spawnSync("apt-get", ["--version"]).status !== 0) {
    console.log(
      `== ${names} missing: the tests that need it will fail; install it with: apt-get install -y ${names} ==`,
    );
    return;
  }
  console.log(`== installing ${names} (apt-get install -y ${names}), which the tests start as real peers ==`);
  const update = await run(["apt-get", "update", "-qq"], LIMIT_MS);
  const install = update.code === 0
    ? await run(["apt-get", "install", "-y", "-qq", ...names.split(" ")], LIMIT_MS)
    : update;
  if (install.code !== 0) {
    console.log(`== installing ${names} failed (exit ${install.code}); the tests that need it will fail ==`);
  }
}

/**
 * The process-group tests replace SO_REUSEPORT workers while clients connect; Linux resets the
 * connections queued on a closing listener unless net.ipv4.tcp_migrate_req hands them over.
 */
function ensureListenerMigration(): void {
  const path = "/proc/sys/net/ipv4/tcp_migrate_req";
  if (!existsSync(path) || readFileSync(path, "utf8").trim() === "1") return;
  if (process.getuid?.() !== 0) {
    console.log(
      "== net.ipv4.tcp_migrate_req is 0: the SIGHUP test will fail; run sysctl -w net.ipv4.tcp_migrate_req=1 ==",
    );
    return;
  }
  writeFileSync(path, "1\n");
  console.log("== set net.ipv4.tcp_migrate_req=1, which the process-group tests need ==");
}

rmSync(results, { recursive: true, force: true });

const started = Date.now();
if (only.some((runtime) => runtime !== "checks")) {
  await ensureServers();
  ensureListenerMigration();
}
let buildFailed = false;
if (only.includes("node")) {
  console.log("== building npm/ ==");
  const build = await run([bin("deno"), "run", "-A", "scripts/build_npm.ts"], LIMIT_MS);
  buildFailed = build.code !== 0;
}
mkdirSync(results, { recursive: true });

const runs: Run[] = [
  {
    runtime: "deno",
    command: [bin("deno"), "test", "-A", "--reporter=dot", `--junit-path=${join(results, "deno.xml")}`, "tests/"],
    junit: join(results, "deno.xml"),
    parentsListed: true,
  },
  {
    runtime: "bun",
    command: [
      bin("bun"),
      "test",
      "--timeout",
      "120000",
      "--reporter=junit",
      `--reporter-outfile=${join(results, "bun.xml")}`,
      "./tests/",
    ],
    junit: join(results, "bun.xml"),
    parentsListed: false,
  },
  {
    runtime: "node",
    command: [
      process.platform === "win32" ? "node.exe" : "node",
      "--test",
      "--test-reporter=dot",
      "--test-reporter-destination=stdout",
      "--test-reporter=junit",
      `--test-reporter-destination=${join(results, "node.xml")}`,
      "npm/esm/tests/",
      "npm/esm/tests/package/pack.js",
    ],
    junit: join(results, "node.xml"),
    parentsListed: false,
  },
];

const summary: { runtime: string; counts: Counts; note: string }[] = [];
if (only.includes("checks")) {
  const counts: Counts = { passed: 0, failed: 0, skipped: 0, failures: [] };
  const t0 = Date.now();
  for (const check of CHECKS) {
    console.log(`\n== ${check.name} ==`);
    const { code } = await run(check.command, LIMIT_MS);
    if (code === 0) counts.passed++;
    else {
      counts.failed++;
      counts.failures.push(`${check.name} exited with code ${code}`);
    }
  }
  summary.push({ runtime: "checks", counts, note: `${((Date.now() - t0) / 1000).toFixed(1)} s` });
}
for (const r of runs.filter((r) => only.includes(r.runtime))) {
  if (r.runtime === "node" && buildFailed) {
    summary.push({
      runtime: "node",
      counts: { passed: 0, failed: 1, skipped: 0, failures: ["npm build"] },
      note: "the npm build failed",
    });
    continue;
  }
  console.log(`\n== ${r.runtime}: ${r.command.map((c) => c.replace(root + "/", "")).join(" ")} ==`);
  const t0 = Date.now();
  const { code, timedOut } = await run(r.command, LIMIT_MS);
  const counts = countJunit(r.junit, r.parentsListed);
  let note = `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  if (timedOut) {
    counts.failed++;
    counts.failures.push(`the ${r.runtime} run exceeded ${LIMIT_MS / 1000} s and was stopped`);
    note += ", timed out";
  } else if (counts.passed + counts.failed === 0) {
    counts.failed++;
    counts.failures.push(`${r.runtime} ran no test`);
    note += ", ran no test";
  } else if (code !== 0 && counts.failed === 0) {
    counts.failed++;
    counts.failures.push(`${r.runtime} exited with code ${code} although no test case failed`);
    note += `, exit code ${code}`;
  }
  summary.push({ runtime: r.runtime, counts, note });
}

console.log("\n== summary ==");
let passed = 0;
let failed = 0;
for (const { runtime, counts, note } of summary) {
  passed += counts.passed;
  failed += counts.failed;
  console.log(
    `${runtime.padEnd(6)} ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped (${note})`,
  );
  for (const f of counts.failures) console.log(`      failed: ${f}`);
}
console.log(`total time ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && summary.length > 0 ? 0 : 1);
