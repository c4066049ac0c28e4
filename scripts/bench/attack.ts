/**
 * Hostile clients against `sockmodels serve chat` (and `serve echo --framing lp4` where an
 * attack needs an echo), on each runtime: one fresh server process per attack, the attacks
 * one after the other. For each it reports whether the server survived (its process still
 * alive and a fresh client served within 5 s, about 1.5 s after the attack ended), how long a
 * fresh client waited to be served (the chat's welcome line, or an echoed frame) at the point
 * the attack names (by default right after it), the server's resident memory (VmRSS from
 * /proc/PID/status, sampled every 50 ms) before, at its peak and 1.5 s after, its open file
 * descriptors (/proc/PID/fd) then, and a short detail.
 *
 * The attacks (see docs/bench/attack.md):
 *
 * - `long-line`: a 4,095-byte line (its broadcast is over the 4,096-byte limit), a 4,050-character
 *   `/nick` and a `/join` of 3,000 bytes of 0xFF, each from a fresh client;
 * - `who-500`: 500 clients in the lobby, then one sends `/who`;
 * - `rst-storm`: 4 talkers sending lines, and 20 rounds of 300 connections that wait for the
 *   welcome and abort with a reset;
 * - `rst-churn`: (echo) connect, send 2 bytes of a 4-byte header, reset, in 16 loops for 3 s,
 *   with an echo probe every 200 ms;
 * - `mass-leave`: 2,000 clients connect in batches of 50, then all close at once;
 * - `flood`: one client sends as fast as its socket takes it for 3 s, 10 read, 1 never reads;
 * - `sigint`: (echo) 50 clients with 512 frames in flight each, then SIGINT to the server;
 * - `idle-memory`: 4,000 clients each send one line (`/join` to a room of its own) and idle; the
 *   RSS that the last 3,000 add, per client, apart from what the first 1,000 paid once;
 * - `nofile`: the server under `prlimit --nofile=256:256`, 400 clients;
 * - `control-chars`: NUL, ESC, BEL and an OSC title sequence in messages;
 * - `idle`: `--idle-timeout 2`, 200 silent connections and 50 that send a byte every second.
 *
 * `--max-connections 200` (nofile) and `--idle-timeout 2` (idle) are passed only if the
 * server's `--help` lists them; otherwise the attack runs without and says so.
 *
 * The clients are node:net sockets in this process, whichever runtime runs it; the script
 * checks first that `resetAndDestroy()` sends a reset there. It needs about 4,100 file
 * descriptors of its own (`ulimit -n`), and warns when it has fewer.
 *
 * Usage: deno run -A scripts/bench/attack.ts [--runtime deno,bun,node] [--only NAME,...]
 *        [--json] [--root DIR] [--floor]
 *
 * `--floor` also runs the attacks that have a floor (`rst-churn`) against the runtime's own API
 * with no library (scripts/bench/raw_echo_server.ts), right after the server's own run: a row
 * `NAME (raw runtime)` that shows what the machine and the runtime allow. It is a reference,
 * so it never fails the run.
 *
 * `--root DIR` runs the servers of another checkout (its node_modules/.bin and, for Node, its
 * npm/ build). The Node server is `npm/esm/src/cli/main.js`: build it first with
 * `deno run -A scripts/build_npm.ts`. Exits with 1 if a server did not survive an attack or missed
 * its target.
 *
 * @module
 */

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { Buffer } from "node:buffer";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Socket } from "node:net";
import process from "node:process";
import { setImmediate } from "node:timers";
import {
  connectSocket,
  LineClient,
  type LineClientOptions,
  lp4Frame,
  Lp4Reader,
  probeChat,
  probeEcho,
  resetSendsRst,
  sleep,
  SocketSet,
} from "./_attack_clients.ts";

type Runtime = "deno" | "bun" | "node";
type ServerKind = "chat" | "echo";

const RUNTIMES: readonly Runtime[] = ["deno", "bun", "node"];
/** How long one attack may run before it is cut short. */
const ATTACK_LIMIT_MS = 20_000;
/** How long after an attack the memory and descriptors are read. */
const SETTLE_MS = 1500;
const MiB = 1024 * 1024;
/** The colours a runtime may put in an error message. */
const ANSI_COLOR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");

// ---------------------------------------------------------------------------------------------
// Arguments

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function argList(name: string, fallback: string): string[] {
  return (argValue(name) ?? fallback).split(",").map((s) => s.trim()).filter(Boolean);
}

/** The checkout whose servers are attacked (from npm/esm/scripts/bench too, when built). */
function defaultRoot(): string {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
  const above = resolve(root, "..", "..");
  return !existsSync(join(root, "deno.json")) && existsSync(join(above, "deno.json")) ? above : root;
}

const root = resolve(argValue("root") ?? defaultRoot());
const jsonOutput = process.argv.includes("--json");
const withFloor = process.argv.includes("--floor");

// ---------------------------------------------------------------------------------------------
// The server process

function readRss(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

function countFds(pid: number): number | undefined {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

/** The command that runs a script of the checkout (`scripts/...ts`), built for Node. */
function scriptCommand(runtime: Runtime, file: string, args: string[]): string[] {
  switch (runtime) {
    case "deno":
      return [join(root, "node_modules/.bin/deno"), "run", "-A", join(root, file), ...args];
    case "bun":
      return [join(root, "node_modules/.bin/bun"), join(root, file), ...args];
    case "node":
      return ["node", join(root, "npm/esm", file.replace(/\.ts$/, ".js")), ...args];
  }
}

function serveCommand(runtime: Runtime, args: string[]): string[] {
  switch (runtime) {
    case "deno":
      return [join(root, "node_modules/.bin/deno"), "run", "-A", join(root, "src/cli/main.ts"), "serve", ...args];
    case "bun":
      return [join(root, "node_modules/.bin/bun"), join(root, "src/cli/main.ts"), "serve", ...args];
    case "node":
      return ["node", join(root, "npm/esm/src/cli/main.js"), "serve", ...args];
  }
}

interface LogRecord {
  event?: string;
  nick?: string;
  message?: string;
  [field: string]: unknown;
}

/** A server process: its port, its log records, the tail of its stderr, and how it ended. */
class ServerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  port = 0;
  /** Log records other than the per-connection ones (capped). */
  readonly records: LogRecord[] = [];
  exit: { code: number | null; signal: string | null; atMs: number } | undefined;
  readonly exited: Promise<void>;
  readonly startedAt: number = performance.now();
  #stdout = "";
  #stderr = "";

  private constructor(command: string[]) {
    this.child = spawn(command[0], command.slice(1), {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1" },
    });
    this.pid = this.child.pid ?? 0;
    this.exited = new Promise((done) => {
      this.child.once("exit", (code, signal) => {
        this.exit = { code, signal, atMs: performance.now() - this.startedAt };
        done();
      });
      this.child.once("error", (error) => {
        this.#stderr += `${error.message}\n`;
        this.exit ??= { code: null, signal: null, atMs: performance.now() - this.startedAt };
        done();
      });
    });
    this.child.stdout!.on("data", (chunk: Buffer) => this.#onStdout(chunk.toString("utf8")));
    this.child.stderr!.on("data", (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString("utf8")).slice(-16_384);
    });
  }

  #onStdout(text: string): void {
    this.#stdout += text;
    let nl: number;
    while ((nl = this.#stdout.indexOf("\n")) >= 0) {
      const line = this.#stdout.slice(0, nl);
      this.#stdout = this.#stdout.slice(nl + 1);
      if (this.port === 0) {
        const m = /listening on .*:(\d+)/.exec(line);
        if (m) this.port = Number(m[1]);
      }
      if (!line.startsWith("{")) continue;
      try {
        const record = JSON.parse(line) as LogRecord;
        if (["open", "close", "join", "leave", "stats", "nick", "room"].includes(record.event ?? "")) continue;
        if (this.records.length < 2000) this.records.push(record);
      } catch {
        // not a log record
      }
    }
    if (this.#stdout.length > 65_536) this.#stdout = this.#stdout.slice(-65_536);
  }

  /** Starts `command` and waits (20 s at most) for its `listening on` line. */
  static async start(command: string[], nofile?: number): Promise<ServerProcess> {
    if (nofile !== undefined) command = ["/usr/bin/prlimit", `--nofile=${nofile}:${nofile}`, "--", ...command];
    const server = new ServerProcess(command);
    const deadline = performance.now() + 20_000;
    while (server.port === 0 && server.exit === undefined && performance.now() < deadline) await sleep(20);
    if (server.port === 0) {
      await server.kill();
      throw new Error(`did not start: ${server.errorSummary() || "no listening line in 20 s"}`);
    }
    return server;
  }

  alive(): boolean {
    return this.exit === undefined && existsSync(`/proc/${this.pid}`);
  }

  /** The first line of what the server printed to stderr that looks like an error. */
  errorSummary(): string {
    const lines = this.#stderr.split("\n").map((l) => l.trim()).filter(Boolean);
    const line = lines.find((l) => /error|panic|uncaught|exception|fatal|killed/i.test(l)) ?? lines[0] ?? "";
    return line.replace(ANSI_COLOR, "").slice(0, 160);
  }

  /** The server's last error on stderr: from the last line that starts one, 12 lines at most. */
  stderrTail(lines = 12): string {
    const all = this.#stderr.replace(ANSI_COLOR, "").trimEnd().split("\n");
    let start = all.findLastIndex((l) => /^(error: |Uncaught |\w*Error\b|panic|thread .* panicked)/.test(l));
    if (start < 0) start = Math.max(0, all.length - lines);
    return all.slice(start, start + lines).join("\n");
  }

  /** Ends the process with SIGKILL unless it has exited already. */
  async kill(): Promise<void> {
    if (this.exit !== undefined) return;
    try {
      this.child.kill("SIGKILL");
    } catch {
      // gone already
    }
    await Promise.race([this.exited, sleep(3000)]);
  }
}

const helpCache = new Map<string, string>();

/** The server's `--help`, to learn which options it has. */
function serveHelp(runtime: Runtime, kind: ServerKind): string {
  const key = `${runtime} ${kind}`;
  let text = helpCache.get(key);
  if (text === undefined) {
    const command = serveCommand(runtime, [kind, "--help"]);
    const r = spawnSync(command[0], command.slice(1), { cwd: root, encoding: "utf8", timeout: 30_000 });
    text = `${r.stdout ?? ""}${r.stderr ?? ""}`;
    helpCache.set(key, text);
  }
  return text;
}

/** Samples the server's VmRSS every 50 ms. */
class RssSampler {
  peak = 0;
  /** The peak since the last resetWindow(). */
  windowPeak = 0;
  last = 0;
  /** The longest gap between two ticks beyond the 50 ms asked: how far this process lagged. */
  maxLagMs = 0;
  #lastTick = performance.now();
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(readonly pid: number) {
    this.sample();
    this.#timer = setInterval(() => {
      const now = performance.now();
      this.maxLagMs = Math.max(this.maxLagMs, now - this.#lastTick - 50);
      this.#lastTick = now;
      this.sample();
    }, 50);
  }

  sample(): number | undefined {
    const rss = readRss(this.pid);
    if (rss !== undefined) {
      this.last = rss;
      if (rss > this.peak) this.peak = rss;
      if (rss > this.windowPeak) this.windowPeak = rss;
    }
    return rss;
  }

  /** Starts a new window for windowPeak, from the memory now. */
  resetWindow(): number {
    this.windowPeak = 0;
    return this.sample() ?? this.last;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

// ---------------------------------------------------------------------------------------------
// Attacks

interface AttackContext {
  runtime: Runtime;
  server: ServerProcess;
  port: number;
  /** Every socket of the attack; all are closed when it ends. */
  sockets: SocketSet;
  sampler: RssSampler;
  rssBefore: number;
  /** performance.now() by which the attack must be over. */
  deadline: number;
  /** Set when the attack ran past its limit: loops stop. */
  stopped: boolean;
  /** The serve options this server has (from its --help). */
  help: string;
  /** A fresh client served: milliseconds, or why not. */
  probe(timeoutMs?: number): Promise<number | string>;
}

interface AttackOutcome {
  detail: string;
  /** The probe the attack made at its own chosen point; else one is made right after it. */
  probe?: number | string;
  /** For attacks that end the server themselves (sigint): what goes in the survived column. */
  survived?: string;
  /** Whether the attack met its target, where it has one. */
  ok?: boolean;
  metrics?: Record<string, unknown>;
}

interface Attack {
  name: string;
  server: ServerKind;
  /** Extra serve options, given the server's --help; a note when one is missing. */
  options?(help: string): { args: string[]; note?: string };
  nofile?: number;
  /** A server on the runtime's own API (a script and its arguments) to take it as the floor. */
  floor?: [string, string[]];
  /** How long the attack may take; ATTACK_LIMIT_MS by default. */
  limitMs?: number;
  run(ctx: AttackContext): Promise<AttackOutcome>;
}

const n = (x: number) => Math.round(x).toLocaleString("en-US");
const ms = (x: number) => (x < 10 ? x.toFixed(1) : n(x));
const mib = (bytes: number) => (bytes / MiB).toFixed(1);

function probeText(p: number | string | undefined): string {
  if (p === undefined) return "—";
  return typeof p === "number" ? ms(p) : `✗ ${p}`;
}

/** Whether the server is alive; attack steps use it to stop early. */
function dead(ctx: AttackContext): boolean {
  return !ctx.server.alive() || ctx.stopped;
}

/**
 * Opens `count` chat clients in batches of `batch`, each batch waiting (5 s at most) for its
 * welcomes, until all are in or the deadline or the server's death stops it.
 */
async function openChatClients(
  ctx: AttackContext,
  count: number,
  batch: number,
  options: LineClientOptions & { afterWelcome?: (c: LineClient, i: number) => void; reserveMs?: number } = {},
): Promise<{ clients: LineClient[]; welcomed: number; ms: number; cutShort: boolean }> {
  const started = performance.now();
  const clients: LineClient[] = [];
  let welcomed = 0;
  let cutShort = false;
  const stopAt = ctx.deadline - (options.reserveMs ?? 5000);
  for (let i = 0; i < count; i += batch) {
    if (dead(ctx) || performance.now() > stopAt) {
      cutShort = true;
      break;
    }
    const group = Array.from(
      { length: Math.min(batch, count - i) },
      () => new LineClient(ctx.port, ctx.sockets, options),
    );
    clients.push(...group);
    const oks = await Promise.all(group.map(async (c, j) => {
      const ok = await c.welcome(Math.max(100, Math.min(5000, stopAt - performance.now())));
      if (ok) options.afterWelcome?.(c, i + j);
      return ok;
    }));
    welcomed += oks.filter(Boolean).length;
  }
  return { clients, welcomed, ms: performance.now() - started, cutShort };
}

/** Resolves when `socket` drains, or after `timeoutMs`. */
function drained(socket: Socket, timeoutMs: number): Promise<void> {
  return new Promise((done) => {
    const finish = () => {
      clearTimeout(timer);
      socket.off("drain", finish);
      socket.off("close", finish);
      done();
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.once("drain", finish);
    socket.once("close", finish);
  });
}

/** The line a step got back, ignoring join and leave notices. */
function classifyReplies(lines: string[]): string {
  const replies = lines.filter((l) => !/^\* .* (joined|left) /.test(l));
  if (replies.length === 0) return "no reply";
  const first = replies[0];
  if (first.startsWith("! ")) return `refused (${Buffer.byteLength(first)} B reply)`;
  return `accepted (${Buffer.byteLength(first)} B reply)`;
}

const longLine: Attack = {
  name: "long-line",
  server: "chat",
  async run(ctx) {
    let watcherLongest = 0;
    const watcher = new LineClient(ctx.port, ctx.sockets, { onLine: () => {} });
    await watcher.welcome(3000);
    const steps: [string, Uint8Array][] = [
      ["line", Buffer.from("B".repeat(4095) + "\n")],
      ["nick", Buffer.from("/nick " + "N".repeat(4050) + "\n")],
      ["join", Buffer.concat([Buffer.from("/join "), Buffer.alloc(3000, 0xff), Buffer.from("\n")])],
    ];
    const results: string[] = [];
    let ok = true;
    for (const [name, payload] of steps) {
      if (dead(ctx)) {
        results.push(`${name}: not run`);
        ok = false;
        continue;
      }
      const client = new LineClient(ctx.port, ctx.sockets, { keepLines: true });
      if (!(await client.welcome(3000))) {
        results.push(`${name}: no welcome`);
        ok = false;
        continue;
      }
      await sleep(50); // its own join notice
      const seen = client.lines.length;
      client.write(payload);
      await client.until((c) => c.lines.slice(seen).some((l) => !/^\* .* (joined|left) /.test(l)), 1500);
      await sleep(200);
      let result = classifyReplies(client.lines.slice(seen));
      if (client.closed) result += `, cut (${client.closeReason})`;
      if (!ctx.server.alive()) {
        result = "server died";
        ok = false;
      }
      results.push(`${name}: ${result}`);
    }
    watcherLongest = watcher.longestLine;
    if (watcherLongest > 4096) ok = false;
    return {
      detail: `${results.join("; ")}; longest line to others ${n(watcherLongest)} B`,
      ok,
      metrics: { steps: results, longestLineToOthers: watcherLongest },
    };
  },
};

const who500: Attack = {
  name: "who-500",
  server: "chat",
  async run(ctx) {
    const asker = new LineClient(ctx.port, ctx.sockets, { keepLines: true });
    await asker.welcome(3000);
    const { welcomed, ms: joinMs } = await openChatClients(ctx, 499, 50);
    const total = welcomed + (asker.welcomeMs > 0 ? 1 : 0);
    if (dead(ctx)) return { detail: `${total}/500 in lobby (${ms(joinMs)} ms); server died before /who`, ok: false };
    await sleep(300);
    const seen = asker.lines.length;
    const started = performance.now();
    asker.write("/who\n");
    const done = (c: LineClient) => {
      const reply = c.lines.slice(seen).filter((l) => l.startsWith("* In ") || l.startsWith("*   "));
      return reply.length > 0 && !reply[reply.length - 1].endsWith(",");
    };
    const got = await asker.until(done, 3000);
    const took = performance.now() - started;
    const reply = asker.lines.slice(seen).filter((l) =>
      l.startsWith("* In ") || l.startsWith("*   ") || l.startsWith("! ")
    );
    const longest = Math.max(0, ...reply.map((l) => Buffer.byteLength(l)));
    const joined = `${total}/500 in lobby in ${n(joinMs)} ms`;
    if (!got) {
      const why = !ctx.server.alive()
        ? "server died"
        : asker.closed
        ? `cut (${asker.closeReason})`
        : "no full reply in 3 s";
      return { detail: `${joined}; /who: ${why}`, ok: false, metrics: { joinMs, total } };
    }
    return {
      detail: `${joined}; /who: ${reply.length} line${reply.length === 1 ? "" : "s"} in ${ms(took)} ms, longest ${
        n(longest)
      } B`,
      ok: longest <= 4096,
      metrics: { joinMs, total, whoMs: took, whoLines: reply.length, longest },
    };
  },
};

const rstStorm: Attack = {
  name: "rst-storm",
  server: "chat",
  async run(ctx) {
    const sent = [0, 0, 0, 0];
    const echoed = [0, 0, 0, 0];
    const talkers = sent.map((_, t) =>
      new LineClient(ctx.port, ctx.sockets, {
        onLine: (line) => {
          const m = /: talker(\d) \d+$/.exec(line);
          if (m && Number(m[1]) === t) echoed[t]++;
        },
      })
    );
    await Promise.all(talkers.map((t) => t.welcome(3000)));
    let talking = true;
    const talk = setInterval(() => {
      if (!talking) return;
      talkers.forEach((c, t) => {
        if (c.closed) return;
        let text = "";
        for (let i = 0; i < 5; i++) text += `talker${t} ${sent[t] + i}\n`;
        if (c.write(text) || !c.closed) sent[t] += 5;
      });
    }, 10);
    let rounds = 0;
    let welcomed = 0;
    let attempted = 0;
    try {
      for (let round = 0; round < 20; round++) {
        if (dead(ctx) || performance.now() > ctx.deadline - 5000) break;
        const group = Array.from({ length: 300 }, () => new LineClient(ctx.port, ctx.sockets));
        attempted += group.length;
        const oks = await Promise.all(group.map(async (c) => {
          const ok = await c.welcome(3000);
          c.reset();
          return ok;
        }));
        welcomed += oks.filter(Boolean).length;
        rounds++;
      }
    } finally {
      talking = false;
      clearInterval(talk);
    }
    await sleep(1000);
    const alive = talkers.filter((t) => !t.closed).length;
    const totalSent = sent.reduce((a, b) => a + b, 0);
    const totalEchoed = echoed.reduce((a, b) => a + b, 0);
    const lost = Math.max(0, totalSent - totalEchoed);
    return {
      detail: `${rounds}/20 rounds, ${n(welcomed)}/${n(attempted)} welcomed; talkers ${alive}/4 connected, ` +
        `${n(lost)} of ${n(totalSent)} lines not echoed`,
      ok: rounds === 20 && welcomed === attempted && alive === 4 && lost === 0,
      metrics: { rounds, welcomed, attempted, talkersAlive: alive, sent: totalSent, echoed: totalEchoed },
    };
  },
};

const rstChurn: Attack = {
  name: "rst-churn",
  server: "echo",
  floor: ["scripts/bench/raw_echo_server.ts", ["--framing", "lp4"]],
  async run(ctx) {
    const seconds = 3;
    const until = performance.now() + seconds * 1000;
    let cycles = 0;
    const errors = new Map<string, number>();
    const worker = async () => {
      while (performance.now() < until && !dead(ctx)) {
        const result = await new Promise<string>((done) => {
          const socket = connectSocket(ctx.port, ctx.sockets, 2000);
          let outcome = "";
          socket.on("error", (e: NodeJS.ErrnoException) => (outcome ||= e.code ?? e.message));
          socket.once("connect", () => {
            socket.write(Buffer.from([0, 0]), () => {
              outcome ||= "ok";
              socket.resetAndDestroy();
            });
          });
          socket.once("close", () => done(outcome || "closed"));
        });
        if (result === "ok") cycles++;
        else {
          errors.set(result, (errors.get(result) ?? 0) + 1);
          await sleep(5);
        }
      }
    };
    const probes: number[] = [];
    let probeFailures = 0;
    const prober = async () => {
      while (performance.now() < until && !dead(ctx)) {
        const p = await probeEcho(ctx.port, 2000);
        if (typeof p === "number") probes.push(p);
        else probeFailures++;
        await sleep(200);
      }
    };
    const started = performance.now();
    await Promise.all([prober(), ...Array.from({ length: 16 }, worker)]);
    const rate = cycles / ((performance.now() - started) / 1000);
    probes.sort((a, b) => a - b);
    const p50 = probes[Math.floor(probes.length / 2)] ?? NaN;
    const max = probes[probes.length - 1] ?? NaN;
    const errorText = [...errors].map(([code, count]) => `${count} ${code}`).join(", ");
    return {
      detail: `${n(rate)} cycles/s; probe during churn p50 ${ms(p50)} ms, max ${ms(max)} ms` +
        `${probeFailures ? `, ${probeFailures} failed` : ""}${errorText ? `; client errors: ${errorText}` : ""}`,
      ok: rate >= 2000 && max < 50 && probeFailures === 0,
      metrics: {
        cyclesPerSecond: rate,
        probeP50: p50,
        probeMax: max,
        probeFailures,
        errors: Object.fromEntries(errors),
      },
    };
  },
};

const massLeave: Attack = {
  name: "mass-leave",
  server: "chat",
  async run(ctx) {
    const { clients, welcomed, ms: joinMs, cutShort } = await openChatClients(ctx, 2000, 50, { reserveMs: 6000 });
    if (dead(ctx)) return { detail: `${n(welcomed)}/2,000 in; server died while they joined`, ok: false };
    const joinedRss = ctx.sampler.resetWindow();
    for (const c of clients) {
      try {
        c.socket.end();
      } catch {
        // closed already
      }
    }
    const probe = await probeChat(ctx.port, 5000);
    await sleep(500);
    ctx.sampler.sample();
    const growth = ctx.sampler.peak - ctx.rssBefore;
    const leaveGrowth = Math.max(0, ctx.sampler.windowPeak - joinedRss);
    const joined = `${n(welcomed)}/2,000 in ${n(joinMs)} ms${cutShort ? " (cut short)" : ""}`;
    const wait = typeof probe === "number" ? `${ms(probe)} ms` : `✗ ${probe}`;
    return {
      probe,
      detail: `${joined}; welcome right after the leave ${wait}; RSS peak +${mib(growth)} MiB ` +
        `(+${mib(joinedRss - ctx.rssBefore)} with all in, +${mib(leaveGrowth)} more in the leave)`,
      ok: welcomed === 2000 && typeof probe === "number" && probe < 1000 && growth < 64 * MiB,
      metrics: { welcomed, joinMs, welcomeAfterLeaveMs: probe, rssGrowth: growth, rssJoined: joinedRss, leaveGrowth },
    };
  },
};

const flood: Attack = {
  name: "flood",
  server: "chat",
  async run(ctx) {
    // Who was cut: the server's `slow` log records, and the clients that were closed.
    const readers = Array.from({ length: 10 }, () => new LineClient(ctx.port, ctx.sockets));
    const flooder = new LineClient(ctx.port, ctx.sockets);
    const sleeper = new LineClient(ctx.port, ctx.sockets, { noRead: true });
    await Promise.all([...readers, flooder].map((c) => c.welcome(3000)));
    await sleeper.until((c) => c.connected, 3000);
    readers.forEach((c, i) => c.write(`/nick reader${i + 1}\n`));
    flooder.write("/nick flooder\n");
    sleeper.write("/nick sleeper\n");
    await sleep(300);
    const chunk = Buffer.from(`${"x".repeat(99)}\n`.repeat(40));
    let bytes = 0;
    const until = performance.now() + 3000;
    let sinceYield = 0;
    while (performance.now() < until && !flooder.closed && !dead(ctx)) {
      bytes += chunk.byteLength;
      sinceYield += chunk.byteLength;
      if (!flooder.write(chunk)) {
        await drained(flooder.socket, Math.max(1, Math.min(500, until - performance.now())));
        sinceYield = 0;
      } else if (sinceYield >= 64 * 1024) {
        // A socket whose writes all complete at once never says no: let the readers of this
        // process read.
        await new Promise((done) => setImmediate(done));
        sinceYield = 0;
      }
    }
    await sleep(2500); // the slow check, and the notices
    const cut = new Set<string>();
    for (const r of ctx.server.records) if (r.event === "slow" && typeof r.nick === "string") cut.add(r.nick);
    readers.forEach((c, i) => c.closed && cut.add(`reader${i + 1}`));
    if (flooder.closed) cut.add("flooder");
    const names = [...cut].sort();
    const wrong = names.filter((name) => name !== "sleeper");
    const verdict = !ctx.server.alive()
      ? "server died"
      : names.length === 0
      ? "nobody cut (sleeper kept)"
      : `cut: ${names.join(", ")}${wrong.length > 0 ? " (readers cut!)" : ""}`;
    return {
      detail: `${verdict}; flooder sent ${mib(bytes)} MiB in 3 s`,
      ok: names.length === 1 && names[0] === "sleeper",
      metrics: { cut: names, floodBytes: bytes },
    };
  },
};

const sigint: Attack = {
  name: "sigint",
  server: "echo",
  async run(ctx) {
    const connections = 50;
    const inFlight = 512;
    let sending = true;
    // Frames passed to write(); those of them still in the socket's own buffer at the signal
    // (writableLength) do not count as sent.
    const written = new Array<number>(connections).fill(0);
    const frameLength = lp4Frame(Buffer.from("client 0000 frame")).byteLength;
    const received = new Array<number>(connections).fill(0);
    const sockets = Array.from({ length: connections }, (_, c) => {
      const socket = connectSocket(ctx.port, ctx.sockets, 5000);
      // The frames of this client, ready to send: as many as come back, in one write.
      const one = lp4Frame(Buffer.from(`client ${String(c).padStart(4, "0")} frame`));
      const frames = Buffer.concat(Array.from({ length: inFlight }, () => one));
      const send = (count: number) => {
        written[c] += count;
        socket.write(frames.subarray(0, count * frameLength));
      };
      let echoed = 0;
      const reader = new Lp4Reader(() => {
        received[c]++;
        echoed++;
      });
      socket.on("data", (chunk: Buffer) => {
        reader.push(chunk);
        if (sending && echoed > 0) send(Math.min(echoed, inFlight));
        echoed = 0;
      });
      socket.once("connect", () => send(inFlight));
      return socket;
    });
    await sleep(1500);
    const probe = await probeEcho(ctx.port, 3000);
    sending = false;
    const sentBefore = sockets.map((socket, c) => written[c] - Math.ceil(socket.writableLength / frameLength));
    const totalSent = sentBefore.reduce((a, b) => a + b, 0);
    const inFlightAtSignal = sentBefore.reduce((sum, sent, c) => sum + Math.max(0, sent - received[c]), 0);
    const signalAt = performance.now();
    // process.kill, not child.kill: Deno's ChildProcess then reports the signal as the cause of
    // any exit, even a clean one.
    process.kill(ctx.server.pid, "SIGINT");
    await Promise.race([ctx.server.exited, sleep(10_000)]);
    const exitMs = performance.now() - signalAt;
    // Let the last replies and closes arrive.
    const closeDeadline = performance.now() + 2000;
    while (sockets.some((s) => !s.destroyed && s.readyState !== "closed") && performance.now() < closeDeadline) {
      await sleep(50);
    }
    const lost = sentBefore.reduce((sum, s, c) => sum + Math.max(0, s - received[c]), 0);
    const stillOpen = sockets.filter((s) => !s.destroyed && s.readyState !== "closed").length;
    const exit = ctx.server.exit;
    const survived = exit === undefined
      ? "hung"
      : exit.signal !== null
      ? `killed (${exit.signal})`
      : `exit ${exit.code}`;
    return {
      probe,
      survived,
      detail: `${n(lost)} replies lost of ${n(inFlightAtSignal)} frames sent and unanswered at the signal ` +
        `(${n(totalSent)} sent); ${exit ? `exited in ${n(exitMs)} ms` : "no exit in 10 s"}` +
        `${stillOpen ? `; ${stillOpen} clients still open` : ""}`,
      ok: lost === 0 && exit?.code === 0,
      metrics: {
        sentBeforeSignal: totalSent,
        inFlightAtSignal,
        lost,
        exitCode: exit?.code,
        exitSignal: exit?.signal,
        exitMs,
        stillOpen,
      },
    };
  },
};

/** Samples the server's RSS until two samples 500 ms apart differ by less than 256 KiB. */
async function settledRss(ctx: AttackContext): Promise<number> {
  let last = ctx.sampler.sample() ?? 0;
  for (let i = 0; i < 8 && performance.now() < ctx.deadline - 1000; i++) {
    await sleep(500);
    const now = ctx.sampler.sample() ?? 0;
    if (Math.abs(now - last) < 256 * 1024) return now;
    last = now;
  }
  return ctx.sampler.sample() ?? last;
}

/** Idle clients joined at the first sample, and in all. */
const IDLE_FIRST = 1000;
const IDLE_ALL = 4000;

const idleMemory: Attack = {
  name: "idle-memory",
  server: "chat",
  limitMs: 45_000,
  async run(ctx) {
    // One line each, which fans out to nobody: a message to a lobby of thousands would make
    // this a broadcast storm rather than a measure of idle clients.
    const join = (offset: number) => (c: LineClient, i: number) => c.write(`/join idle${offset + i}\n`);
    const first = await openChatClients(ctx, IDLE_FIRST, 50, { reserveMs: 30_000, afterWelcome: join(0) });
    if (dead(ctx)) return { detail: `${n(first.welcomed)}/${n(IDLE_FIRST)} in; server died`, ok: false };
    const rssFirst = await settledRss(ctx);
    const rest = await openChatClients(ctx, IDLE_ALL - IDLE_FIRST, 50, {
      reserveMs: 6000,
      afterWelcome: join(IDLE_FIRST),
    });
    if (dead(ctx)) return { detail: `${n(first.welcomed + rest.welcomed)}/${n(IDLE_ALL)} in; server died`, ok: false };
    const rssAll = await settledRss(ctx);
    const welcomed = first.welcomed + rest.welcomed;
    const kib = (bytes: number, clients: number) => (clients > 0 ? bytes / clients / 1024 : NaN);
    // What each further client costs, apart from what the first ones paid once (the young
    // generation growing to its size, compiled code): the figure that scales with clients.
    const perClient = kib(rssAll - rssFirst, rest.welcomed);
    const atFirst = kib(rssFirst - ctx.rssBefore, first.welcomed);
    const atAll = kib(rssAll - ctx.rssBefore, welcomed);
    const cutShort = first.cutShort || rest.cutShort ? " (cut short)" : "";
    return {
      detail: `${n(welcomed)}/${n(IDLE_ALL)} in ${n(first.ms + rest.ms)} ms${cutShort}; ` +
        `${perClient.toFixed(1)} KiB per idle client from ${n(IDLE_FIRST)} to ${n(IDLE_ALL)}; ` +
        `all in over RSS before: ${atFirst.toFixed(1)} KiB each at ${n(IDLE_FIRST)}, ` +
        `${atAll.toFixed(1)} at ${n(IDLE_ALL)} (RSS ${mib(rssAll)} MiB with them)`,
      ok: welcomed === IDLE_ALL && perClient <= 16,
      metrics: {
        welcomed,
        joinMs: first.ms + rest.ms,
        kibPerClient: perClient,
        kibPerClientAtFirst: atFirst,
        kibPerClientAtAll: atAll,
        rssFirst,
        rssIdle: rssAll,
      },
    };
  },
};

const nofile: Attack = {
  name: "nofile",
  server: "chat",
  nofile: 256,
  options: (help) =>
    help.includes("--max-connections")
      ? { args: ["--max-connections", "200"] }
      : { args: [], note: "no --max-connections option" },
  async run(ctx) {
    let served = 0;
    let refused = 0;
    let hung = 0;
    const servedClients: LineClient[] = [];
    const echoes = new Map<LineClient, string[]>();
    for (let i = 0; i < 400; i += 50) {
      if (dead(ctx)) break;
      const group = Array.from({ length: 50 }, () => {
        const lines: string[] = [];
        const c = new LineClient(ctx.port, ctx.sockets, { onLine: (l) => lines.length < 50 && lines.push(l) });
        echoes.set(c, lines);
        return c;
      });
      await Promise.all(group.map((c) => c.until((x) => x.welcomeMs > 0 || x.firstLine !== undefined, 1000)));
      for (const c of group) {
        if (c.welcomeMs > 0 && !c.closed) {
          served++;
          servedClients.push(c);
        } else if (c.closed || c.firstLine !== undefined) refused++;
        else hung++;
      }
    }
    // Are the clients already in still served?
    const sample = servedClients.filter((c) => !c.closed).slice(0, 10);
    const answered = await Promise.all(sample.map(async (c, i) => {
      const lines = echoes.get(c)!;
      lines.length = 0;
      c.write(`ping ${i}\n`);
      return await c.until(() => lines.some((l) => l.endsWith(`: ping ${i}`)), 2000);
    }));
    const ok = answered.filter(Boolean).length;
    ctx.sockets.destroyAll();
    await sleep(1000);
    const probe = dead(ctx) ? "server died" : await probeChat(ctx.port, 3000);
    return {
      probe,
      detail: `served ${served}, refused ${refused}, hung ${hung}; existing ${ok}/${sample.length} still served; ` +
        `after they left: ${typeof probe === "number" ? "served" : `✗ ${probe}`}`,
      ok: hung === 0 && served > 0 && ok === sample.length && typeof probe === "number",
      metrics: { served, refused, hung, existingServed: ok, existingSampled: sample.length },
    };
  },
};

const CONTROL_NAMES: Record<number, string> = { 0: "NUL", 7: "BEL", 8: "BS", 13: "CR", 27: "ESC", 127: "DEL" };

const controlChars: Attack = {
  name: "control-chars",
  server: "chat",
  async run(ctx) {
    const raw = new Set<string>();
    let listening = false;
    const receiver = new LineClient(ctx.port, ctx.sockets, {
      keepLines: true,
      onChunk: (chunk) => {
        if (!listening) return;
        for (const byte of chunk) {
          if ((byte < 0x20 && byte !== 0x09 && byte !== 0x0a) || byte === 0x7f) {
            raw.add(CONTROL_NAMES[byte] ?? `0x${byte.toString(16).padStart(2, "0")}`);
          }
        }
      },
    });
    const sender = new LineClient(ctx.port, ctx.sockets);
    await Promise.all([receiver.welcome(3000), sender.welcome(3000)]);
    await sleep(200);
    listening = true;
    const seen = receiver.lines.length;
    sender.write("nul \x00 end\nesc \x1b[31m end\nbel \x07 end\nosc \x1b]0;pwned\x07 end\n");
    await receiver.until((c) => c.lines.slice(seen).filter((l) => l.endsWith(" end")).length >= 4, 2000);
    await sleep(200);
    const delivered = receiver.lines.slice(seen).filter((l) => l.endsWith(" end")).length;
    const found = [...raw];
    return {
      detail: `raw control bytes to another client: ${found.length ? found.join(", ") : "none"} ` +
        `(${delivered}/4 messages delivered)`,
      ok: found.length === 0 && delivered === 4,
      metrics: { raw: found, delivered },
    };
  },
};

const idle: Attack = {
  name: "idle",
  server: "chat",
  options: (help) =>
    help.includes("--idle-timeout")
      ? { args: ["--idle-timeout", "2"] }
      : { args: [], note: "no --idle-timeout option" },
  async run(ctx) {
    const timeoutMs = 2000;
    const silent = Array.from({ length: 200 }, () => new LineClient(ctx.port, ctx.sockets));
    const drip = Array.from({ length: 50 }, () => new LineClient(ctx.port, ctx.sockets));
    const dripper = setInterval(() => {
      for (const c of drip) if (c.connected) c.write("x");
    }, 1000);
    const watchUntil = performance.now() + timeoutMs + 3000 + 500;
    try {
      while (performance.now() < watchUntil && !dead(ctx)) {
        if ([...silent, ...drip].every((c) => c.closed)) break;
        await sleep(100);
      }
    } finally {
      clearInterval(dripper);
    }
    const closedInTime = (group: LineClient[]) => group.filter((c) => c.closed && c.closedMs <= timeoutMs + 3000);
    const summary = (group: LineClient[]) => {
      const closed = closedInTime(group).map((c) => c.closedMs).sort((a, b) => a - b);
      const range = closed.length
        ? ` (${(closed[0] / 1000).toFixed(1)}–${(closed[closed.length - 1] / 1000).toFixed(1)} s)`
        : "";
      return `${closed.length}/${group.length} closed${range}`;
    };
    const early = [...silent, ...drip].filter((c) => c.closed && c.closedMs < timeoutMs - 250).length;
    const hasOption = ctx.help.includes("--idle-timeout");
    return {
      detail: `silent ${summary(silent)}, drip ${summary(drip)}${early ? `; ${early} closed before the timeout` : ""}`,
      ok: hasOption && closedInTime(silent).length === silent.length,
      metrics: {
        silentClosed: closedInTime(silent).length,
        dripClosed: closedInTime(drip).length,
        closedEarly: early,
      },
    };
  },
};

const ATTACKS: readonly Attack[] = [
  longLine,
  who500,
  rstStorm,
  rstChurn,
  massLeave,
  flood,
  sigint,
  idleMemory,
  nofile,
  controlChars,
  idle,
];

// ---------------------------------------------------------------------------------------------
// Running them

interface Row {
  runtime: Runtime;
  attack: string;
  /** yes, or no with why. */
  survived: string;
  probeMs: number | string | undefined;
  rssBeforeMiB?: number;
  rssPeakMiB?: number;
  rssAfterMiB?: number;
  fdsBefore?: number;
  fdsAfter?: number;
  detail: string;
  ok: boolean;
  serverError?: string;
  metrics?: Record<string, unknown>;
}

function exitText(server: ServerProcess): string {
  const exit = server.exit;
  if (!exit) return "no answer";
  const at = `at ${(exit.atMs / 1000).toFixed(1)} s`;
  return exit.signal ? `killed by ${exit.signal} ${at}` : `exited ${exit.code} ${at}`;
}

/** Runs `attack` against `serve`, or against the attack's floor server when `floor` is true. */
async function runAttack(runtime: Runtime, attack: Attack, floor = false): Promise<Row> {
  const help = floor ? "" : serveHelp(runtime, attack.server);
  const extra = floor ? { args: [] } : attack.options?.(help) ?? { args: [] };
  const args = [
    attack.server,
    "--port",
    "0",
    "--json",
    ...(attack.server === "echo" ? ["--framing", "lp4"] : []),
    ...extra.args,
  ];
  const name = floor ? `${attack.name} (raw runtime)` : attack.name;
  let server: ServerProcess;
  try {
    const command = floor ? scriptCommand(runtime, attack.floor![0], attack.floor![1]) : serveCommand(runtime, args);
    server = await ServerProcess.start(command, attack.nofile);
  } catch (error) {
    return {
      runtime,
      attack: name,
      survived: "no (did not start)",
      probeMs: undefined,
      detail: (error as Error).message,
      ok: false,
    };
  }
  const sampler = new RssSampler(server.pid);
  const sockets = new SocketSet();
  await sleep(500);
  const limitMs = attack.limitMs ?? ATTACK_LIMIT_MS;
  const rssBefore = sampler.sample() ?? 0;
  sampler.peak = rssBefore;
  sampler.maxLagMs = 0;
  const fdsBefore = countFds(server.pid);
  const ctx: AttackContext = {
    runtime,
    server,
    port: server.port,
    sockets,
    sampler,
    rssBefore,
    deadline: performance.now() + limitMs,
    stopped: false,
    help,
    probe: (timeoutMs = 5000) =>
      attack.server === "chat" ? probeChat(server.port, timeoutMs) : probeEcho(server.port, timeoutMs),
  };
  let outcome: AttackOutcome;
  let limit: ReturnType<typeof setTimeout> | undefined;
  try {
    outcome = await Promise.race([
      attack.run(ctx),
      new Promise<AttackOutcome>((done) => {
        limit = setTimeout(() => {
          ctx.stopped = true;
          done({ detail: `the attack did not finish in ${limitMs / 1000} s`, ok: false });
        }, limitMs);
      }),
    ]);
  } catch (error) {
    outcome = { detail: `attack failed: ${(error as Error).message}`, ok: false };
  } finally {
    clearTimeout(limit);
    ctx.stopped = true;
  }
  let probe = outcome.probe;
  if (probe === undefined && outcome.survived === undefined) probe = server.alive() ? await ctx.probe() : "server died";
  sockets.destroyAll();
  await sleep(SETTLE_MS);
  const alive = server.alive();
  const rssAfter = alive ? sampler.sample() : undefined;
  const fdsAfter = alive ? countFds(server.pid) : undefined;
  let survived = outcome.survived;
  if (survived === undefined) {
    if (!alive) survived = `no (${exitText(server)})`;
    else {
      const final = await ctx.probe(5000);
      survived = typeof final === "number" ? "yes" : `no (probe: ${final})`;
    }
  }
  sampler.stop();
  const serverError = server.alive() || server.exit?.code === 0 ? undefined : server.stderrTail();
  await server.kill();
  let detail = extra.note ? `${extra.note}: ${outcome.detail}` : outcome.detail;
  if (sampler.maxLagMs > 500) detail += ` (the attacking process lagged up to ${n(sampler.maxLagMs)} ms)`;
  const survivedOk = survived === "yes" || (outcome.survived !== undefined && outcome.ok === true);
  return {
    runtime,
    attack: name,
    survived,
    probeMs: probe,
    rssBeforeMiB: rssBefore / MiB,
    rssPeakMiB: sampler.peak / MiB,
    rssAfterMiB: rssAfter !== undefined ? rssAfter / MiB : undefined,
    fdsBefore,
    fdsAfter,
    detail,
    ok: survivedOk && outcome.ok !== false,
    serverError: serverError || undefined,
    metrics: { ...outcome.metrics, attackerLagMs: Math.round(sampler.maxLagMs) },
  };
}

function version(runtime: Runtime): string {
  const command = runtime === "deno"
    ? [join(root, "node_modules/.bin/deno"), "--version"]
    : runtime === "bun"
    ? [join(root, "node_modules/.bin/bun"), "--version"]
    : ["node", "--version"];
  const r = spawnSync(command[0], command.slice(1), { encoding: "utf8", timeout: 20_000 });
  return `${runtime} ${/\d+\.\d+\.\d+\S*/.exec(r.stdout ?? "")?.[0] ?? "?"}`;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(path));
    else if (entry.name.endsWith(".ts")) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function fdLimit(): number | undefined {
  try {
    const m = /Max open files\s+(\d+|unlimited)/.exec(readFileSync("/proc/self/limits", "utf8"));
    return m ? (m[1] === "unlimited" ? Infinity : Number(m[1])) : undefined;
  } catch {
    return undefined;
  }
}

const cell = (text: string) => text.replace(/\|/g, "\\|");
const opt = (x: number | undefined) => (x === undefined ? "—" : x.toFixed(1));

function printTable(title: string, rows: Row[]): void {
  console.log(`\n### ${title}\n`);
  console.log(
    "| attack | survived | probe ms | RSS before MiB | RSS peak MiB | RSS after MiB | fds after (before) | detail |",
  );
  console.log("|---|---|---:|---:|---:|---:|---:|---|");
  for (const r of rows) {
    const fds = r.fdsAfter === undefined ? "—" : `${r.fdsAfter} (${r.fdsBefore ?? "?"})`;
    console.log(
      `| ${r.attack} | ${cell(r.survived)} | ${cell(probeText(r.probeMs))} | ${opt(r.rssBeforeMiB)} | ${
        opt(r.rssPeakMiB)
      } | ` +
        `${opt(r.rssAfterMiB)} | ${fds} | ${cell(r.detail)} |`,
    );
  }
  const errors = rows.filter((r) => r.serverError);
  if (errors.length > 0) {
    console.log("\nServer stderr (last lines) where the server died:\n");
    for (const r of errors) {
      console.log(
        `- ${r.attack}:\n\n  \`\`\`\n${r.serverError!.split("\n").map((l) => `  ${l}`).join("\n")}\n  \`\`\``,
      );
    }
  }
}

async function main(): Promise<number> {
  if (process.argv.includes("--help") || process.argv.includes("-h")) {
    console.log(
      "Usage: deno run -A scripts/bench/attack.ts [--runtime deno,bun,node] [--only NAME,...] [--json] [--root DIR] " +
        "[--floor]\n" +
        `Attacks: ${ATTACKS.map((a) => a.name).join(", ")}`,
    );
    return 0;
  }
  const runtimes = argList("runtime", RUNTIMES.join(","));
  const badRuntime = runtimes.filter((r) => !(RUNTIMES as readonly string[]).includes(r));
  const only = argList("only", ATTACKS.map((a) => a.name).join(","));
  const badAttack = only.filter((name) => !ATTACKS.some((a) => a.name === name));
  if (badRuntime.length > 0 || badAttack.length > 0) {
    console.error(
      `Unknown ${badRuntime.length ? `runtime ${badRuntime.join(", ")}` : `attack ${badAttack.join(", ")}`}; ` +
        `runtimes: ${RUNTIMES.join(", ")}; attacks: ${ATTACKS.map((a) => a.name).join(", ")}`,
    );
    return 2;
  }
  const attacks = ATTACKS.filter((a) => only.includes(a.name));

  const limit = fdLimit();
  if (limit !== undefined && limit < 4600) {
    console.error(
      `warning: this process may open ${limit} files (ulimit -n); idle-memory needs about 4,100. ` +
        "Raise it with `ulimit -n 8192` first.",
    );
  }
  if (!(await resetSendsRst())) {
    console.error(
      "warning: resetAndDestroy() did not send a reset under this runtime: the rst attacks close normally here. " +
        "Run the script under Node (npm/esm/scripts/bench/attack.js) instead.",
    );
  }
  const notes: string[] = [];
  const cli = join(root, "npm/esm/src/cli/main.js");
  if (runtimes.includes("node") && existsSync(cli) && statSync(cli).mtimeMs < newestMtime(join(root, "src"))) {
    notes.push("npm/esm is older than src/: the Node rows are for the last build");
    console.error("warning: npm/esm is older than src/; rebuild with deno run -A scripts/build_npm.ts");
  }

  let allOk = true;
  for (const runtime of runtimes as Runtime[]) {
    const rows: Row[] = [];
    const title = version(runtime);
    for (const attack of attacks) {
      let row: Row;
      if (runtime === "node" && !existsSync(cli)) {
        row = {
          runtime,
          attack: attack.name,
          survived: "not run",
          probeMs: undefined,
          detail: "npm/esm/src/cli/main.js is missing: run deno run -A scripts/build_npm.ts",
          ok: false,
        };
      } else {
        console.error(`${runtime} ${attack.name}: running`);
        row = await runAttack(runtime, attack);
      }
      const probe = typeof row.probeMs === "number" ? `${ms(row.probeMs)} ms` : probeText(row.probeMs);
      console.error(`${runtime} ${attack.name}: survived ${row.survived}, probe ${probe}; ${row.detail}`);
      if (!row.ok) allOk = false;
      rows.push(row);
      if (jsonOutput) console.log(JSON.stringify({ ...row, version: title }));
      await sleep(500);
      if (withFloor && attack.floor && row.survived !== "not run") {
        console.error(`${runtime} ${attack.name} on the raw runtime: running`);
        const floorRow = await runAttack(runtime, attack, true);
        console.error(`${runtime} ${floorRow.attack}: ${floorRow.detail}`);
        rows.push(floorRow);
        if (jsonOutput) console.log(JSON.stringify({ ...floorRow, version: title, floor: true }));
        await sleep(500);
      }
    }
    if (!jsonOutput) printTable(title, rows);
  }
  if (!jsonOutput && notes.length > 0) console.log(`\n${notes.map((l) => `Note: ${l}.`).join("\n")}`);
  return allOk ? 0 : 1;
}

process.exitCode = await main();
// Sockets of an attack cut short may still hold the event loop: do not wait for them.
setTimeout(() => process.exit(), 100);
