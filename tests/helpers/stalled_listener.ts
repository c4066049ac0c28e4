/**
 * A TCP listener whose accept queue is full, so new SYNs are dropped and a connect attempt
 * hangs: a black hole for one address, on any loopback address (127.0.0.1 or ::1) and,
 * optionally, on a given port. It runs in a Deno
 * child process, which fills its own backlog before it reports the port, and which exits by
 * itself when the test process dies without closing it.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";

const SCRIPT = `
const [hostname, wanted] = Deno.args;
// Exit when the parent goes away (its end of stdin closes), even if it never called close().
(async () => { for await (const _ of Deno.stdin.readable) {} Deno.exit(0); })();
const listener = Deno.listen({ hostname, port: Number(wanted) });
const port = listener.addr.port;
const held = [];
for (let round = 0; round < 40; round++) {
  const attempts = [];
  for (let i = 0; i < 64; i++) {
    const ac = new AbortController();
    const t = setTimeout(() => ac.abort(), 400);
    attempts.push(Deno.connect({ hostname, port, signal: ac.signal })
      .then((c) => { clearTimeout(t); held.push(c); return true; }, () => false));
  }
  const results = await Promise.all(attempts);
  if (results.includes(false)) break;
}
console.log(port);
setInterval(() => {}, 1 << 30);
`;

function denoBinary(): string {
  const local = join(process.cwd(), "node_modules", ".bin", "deno");
  if (existsSync(local)) return local;
  if ("Deno" in globalThis) return process.execPath;
  throw new Error(`No deno binary found at ${local}; run npm ci first`);
}

/** A running stalled listener; `close()` ends its process. */
export interface StalledListener {
  hostname: string;
  port: number;
  close(): Promise<void>;
}

/** Starts a stalled listener on `hostname` (127.0.0.1 or ::1) and `port` (0: ephemeral). */
export async function startStalledListenerOn(
  hostname: string,
  port = 0,
): Promise<StalledListener> {
  const child = spawn(denoBinary(), ["eval", SCRIPT, hostname, String(port)], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on(
    "data",
    (d: Uint8Array) => (stderr += new TextDecoder().decode(d)),
  );
  const close = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        return resolve();
      }
      child.once("exit", () => resolve());
      child.kill("SIGKILL");
    });
  const bound = await new Promise<number>((resolve, reject) => {
    let text = "";
    child.stdout!.on("data", (d: Uint8Array) => {
      text += new TextDecoder().decode(d);
      const m = /(\d+)\s*\n/.exec(text);
      if (m) resolve(Number(m[1]));
    });
    child.once(
      "exit",
      (code) =>
        reject(
          new Error(
            `Stalled listener on ${hostname} exited early with code ${code}: ${stderr.trim()}`,
          ),
        ),
    );
  });
  return { hostname, port: bound, close };
}

/** A stalled listener on 127.0.0.1 with an ephemeral port. */
export function startStalledListener(): Promise<StalledListener> {
  return startStalledListenerOn("127.0.0.1");
}
