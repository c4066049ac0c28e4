/**
 * A TCP listener on 127.0.0.1 whose accept queue is full, so new SYNs are dropped and a
 * connect attempt hangs until its own timeout. It runs in a Deno child process (Deno's listener
 * only accepts when asked, and never is), which fills its own backlog before reporting the port.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";

const SCRIPT = `
const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const port = listener.addr.port;
const held = [];
for (let round = 0; round < 40; round++) {
  const attempts = [];
  for (let i = 0; i < 64; i++) {
    const ac = new AbortController();
    const t = setTimeout(() => ac.abort(), 400);
    attempts.push(Deno.connect({ hostname: "127.0.0.1", port, signal: ac.signal })
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

/** Starts the stalled listener; `close()` ends the child process. */
export async function startStalledListener(): Promise<{ port: number; close(): Promise<void> }> {
  const child = spawn(denoBinary(), ["eval", SCRIPT], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    let text = "";
    child.stdout!.on("data", (d: Uint8Array) => {
      text += new TextDecoder().decode(d);
      const m = /(\d+)\s*\n/.exec(text);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", (code) => reject(new Error(`Stalled listener exited early with code ${code}`)));
  });
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGKILL");
      }),
  };
}
