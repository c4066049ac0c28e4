/**
 * Seed 000's HTTP GET client with retries (`httpGetWithRetry` of src/apps/http_get.ts) as a
 * command line:
 *
 *   deno run -A examples/http_get_with_retry.ts http://127.0.0.1:8080/ --attempts 5
 *   bun run examples/http_get_with_retry.ts http://localhost:8080/status --connect-timeout 3000
 *   node npm/esm/examples/http_get_with_retry.js http://127.0.0.1:8080/ --activity-timeout 10000
 *
 * It prints the status line and the body size, and exits with 1 when every attempt failed.
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { type HttpGetOptions, httpGetWithRetry } from "../src/apps/http_get.ts";
import { describeCause } from "../src/resilience/errors.ts";
import { availableTransports, loadTransport } from "../src/runtime/detect.ts";
import type { TransportName } from "../src/runtime/types.ts";
import { isMainModule } from "../src/platform/process.ts";

const USAGE = "usage: http_get_with_retry <http://host[:port]/path> [--connect-timeout 3000] " +
  "[--activity-timeout 5000] [--attempts 5] [--base-delay 200] [--max-delay 30000] " +
  `[--transport ${availableTransports().filter((t) => t !== "memory").join("|")}]`;

function number(
  value: string | undefined,
  name: string,
  min: number,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min) {
    throw new RangeError(
      `--${name} must be a number >= ${min}, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/** The command line: parses `args`, runs the GET, prints the status line and body size. */
export async function main(args: string[]): Promise<number> {
  let url: string;
  let options: HttpGetOptions;
  try {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        "connect-timeout": { type: "string" },
        "activity-timeout": { type: "string" },
        attempts: { type: "string" },
        "base-delay": { type: "string" },
        "max-delay": { type: "string" },
        transport: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (positionals.length !== 1) {
      throw new TypeError(`Expected one URL, got ${positionals.length}`);
    }
    url = positionals[0];
    const baseMs = number(values["base-delay"], "base-delay", 1) ?? 200;
    const name = values.transport as TransportName | undefined;
    if (
      name !== undefined &&
      (!availableTransports().includes(name) || name === "memory")
    ) {
      throw new RangeError(
        `--transport ${JSON.stringify(name)} is not available here`,
      );
    }
    options = {
      transport: name === undefined ? undefined : await loadTransport(name),
      connectTimeoutMs: number(values["connect-timeout"], "connect-timeout", 0),
      activityTimeoutMs: number(
        values["activity-timeout"],
        "activity-timeout",
        0,
      ),
      maxAttempts: number(values.attempts, "attempts", 1),
      backoff: {
        baseMs,
        capMs: Math.max(
          baseMs,
          number(values["max-delay"], "max-delay", 1) ?? 30_000,
        ),
      },
      onRetry: (info) =>
        console.error(
          `attempt ${info.attempt} failed (${describeCause(info.error)}); retrying in ${Math.round(info.delayMs)} ms`,
        ),
    };
  } catch (error) {
    console.error(`http_get_with_retry: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  try {
    const response = await httpGetWithRetry(url, options);
    console.log(response.statusLine);
    console.log(
      `body: ${response.body.byteLength} bytes (attempts: ${response.attempts})`,
    );
    return 0;
  } catch (error) {
    console.error(
      `http_get_with_retry: ${error instanceof TypeError ? error.message : describeCause(error)}`,
    );
    return 1;
  }
}

if (isMainModule(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
