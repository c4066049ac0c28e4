/**
 * Seed 000's HTTP GET client with retries, on the runtime adapter and the resilience kit:
 *
 * - a connect timeout (name resolution plus connect, with Happy Eyeballs);
 * - an activity timeout that starts again on every byte received;
 * - retries with exponential backoff and equal jitter (the seed's `rand(0.5..1)`), for
 *   connection failures, timeouts and 5xx answers; a 4xx answer is returned, not retried.
 *
 *   deno run -A examples/http_get_with_retry.ts http://127.0.0.1:8080/ --attempts 5
 *   bun run examples/http_get_with_retry.ts http://localhost:8080/status --connect-timeout 3000
 *   node npm/esm/examples/http_get_with_retry.js http://127.0.0.1:8080/ --activity-timeout 10000
 *
 * It prints the status line and the body size, and exits with 1 when every attempt failed.
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { NetError } from "../src/runtime/errors.ts";
import type { BackoffOptions } from "../src/resilience/backoff.ts";
import { connectWithTimeout } from "../src/resilience/connect.ts";
import { describeCause } from "../src/resilience/errors.ts";
import { withIdleTimeout } from "../src/resilience/idle_timeout.ts";
import type { Resolver } from "../src/resilience/resolve.ts";
import { retry, type RetryInfo } from "../src/resilience/retry.ts";
import { availableTransports, detectRuntime, loadTransport } from "../src/runtime/detect.ts";
import type { Transport, TransportName } from "../src/runtime/types.ts";
import { isMainModule } from "../src/platform/process.ts";

/** Options of {@link httpGetWithRetry}. */
export interface HttpGetOptions {
  /** The transport. Default: the runtime's own. */
  transport?: Transport;
  /** Limit for resolving plus connecting, per attempt. Default 3000 ms (the seed's 3 to 5 s). */
  connectTimeoutMs?: number;
  /** Close an attempt when no byte arrives for this long. Default 5000 ms. */
  activityTimeoutMs?: number;
  /** Attempts in all, counting the first. Default 5 (the seed's maxAttempts). */
  maxAttempts?: number;
  /** Total time budget. Default: none. */
  maxElapsedMs?: number;
  /** Backoff between attempts. Default: from 200 ms up to 30 s, equal jitter (the seed's NextBackoff). */
  backoff?: BackoffOptions;
  /** The largest response accepted. Default 64 MiB. */
  maxResponseBytes?: number;
  /** Looks up host names. Default: the system resolver. */
  resolver?: Resolver;
  /** Cancels the request, including a wait between attempts. */
  signal?: AbortSignal;
  /** Called before each wait between attempts. */
  onRetry?: (info: RetryInfo) => void;
}

/** A response. */
export interface HttpResponse {
  /** The status line, such as `HTTP/1.1 200 OK`. */
  statusLine: string;
  /** The status code. */
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  /** The body, with chunked transfer coding removed. */
  body: Uint8Array;
  /** How many attempts it took. */
  attempts: number;
}

/** A 5xx answer: the server failed, so the request is tried again. */
export class HttpStatusError extends Error {
  /** The status code. */
  readonly status: number;
  /** The whole response. */
  readonly response: HttpResponse;
  constructor(response: HttpResponse) {
    super(`Server answered ${response.statusLine}`);
    this.name = "HttpStatusError";
    this.status = response.status;
    this.response = response;
  }
}

/** The response is not HTTP: a protocol error, never retried. */
export class HttpProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HttpProtocolError";
  }
}

const CRLF2 = new Uint8Array([13, 10, 13, 10]);
const latin1 = new TextDecoder("latin1");

function indexOf(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i <= haystack.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

type Parsed = { done: false } | {
  done: true;
  response: Omit<HttpResponse, "attempts">;
};

/** Parses what arrived so far; `ended` means the server closed the connection. */
function parseResponse(bytes: Uint8Array, ended: boolean): Parsed {
  const headEnd = indexOf(bytes, CRLF2);
  if (headEnd < 0) {
    if (!ended) return { done: false };
    if (bytes.length === 0) {
      throw new NetError(
        "ECONNRESET",
        "The server closed the connection without a response",
      );
    }
    throw new NetError(
      "ECONNRESET",
      `The server closed the connection inside the response head, after ${bytes.length} bytes`,
    );
  }
  const lines = latin1.decode(bytes.subarray(0, headEnd)).split("\r\n");
  const statusLine = lines[0];
  const m = /^HTTP\/\d\.\d (\d{3})(?: .*)?$/.exec(statusLine);
  if (!m) {
    throw new HttpProtocolError(
      `Not an HTTP status line: ${JSON.stringify(statusLine.slice(0, 80))}`,
    );
  }
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) {
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1)
        .trim();
    }
  }
  const status = Number(m[1]);
  const rest = bytes.subarray(headEnd + 4);
  if (/\bchunked\b/i.test(headers["transfer-encoding"] ?? "")) {
    const body = dechunk(rest);
    if (body) {
      return { done: true, response: { statusLine, status, headers, body } };
    }
    if (ended) {
      throw new NetError(
        "ECONNRESET",
        "The server closed the connection inside a chunked body",
      );
    }
    return { done: false };
  }
  const lengthHeader = headers["content-length"];
  if (lengthHeader !== undefined) {
    const length = Number(lengthHeader);
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new HttpProtocolError(
        `Bad Content-Length ${JSON.stringify(lengthHeader)}`,
      );
    }
    if (rest.length >= length) {
      return {
        done: true,
        response: { statusLine, status, headers, body: rest.slice(0, length) },
      };
    }
    if (ended) {
      throw new NetError(
        "ECONNRESET",
        `The server closed the connection after ${rest.length} of ${length} body bytes`,
      );
    }
    return { done: false };
  }
  return ended
    ? {
      done: true,
      response: { statusLine, status, headers, body: rest.slice() },
    }
    : { done: false };
}

/** The body of a complete chunked encoding, or undefined while it is incomplete. */
function dechunk(bytes: Uint8Array): Uint8Array | undefined {
  const parts: Uint8Array[] = [];
  let total = 0;
  let at = 0;
  for (;;) {
    const lineEnd = indexOf(bytes, CRLF2.subarray(0, 2), at);
    if (lineEnd < 0) return undefined;
    const sizeText = latin1.decode(bytes.subarray(at, lineEnd)).split(";")[0]
      .trim();
    if (!/^[0-9a-fA-F]+$/.test(sizeText)) {
      throw new HttpProtocolError(`Bad chunk size ${JSON.stringify(sizeText)}`);
    }
    const size = parseInt(sizeText, 16);
    const start = lineEnd + 2;
    if (size === 0) {
      return indexOf(bytes, CRLF2.subarray(0, 2), start) < 0 ? undefined : concat(parts, total);
    }
    if (bytes.length < start + size + 2) return undefined;
    parts.push(bytes.subarray(start, start + size));
    total += size;
    at = start + size + 2;
  }
}

/** One GET on one connection: the seed's HttpGet. */
async function getOnce(
  url: URL,
  transport: Transport,
  options: HttpGetOptions,
  signal: AbortSignal,
): Promise<Omit<HttpResponse, "attempts">> {
  const port = url.port === "" ? 80 : Number(url.port);
  const raw = await connectWithTimeout(
    url.hostname.replace(/^\[|\]$/g, ""),
    port,
    {
      transport,
      timeoutMs: options.connectTimeoutMs ?? 3000,
      resolver: options.resolver,
      signal,
    },
  );
  const stream = withIdleTimeout(raw, {
    readMs: options.activityTimeoutMs ?? 5000,
  });
  const maxBytes = options.maxResponseBytes ?? 64 << 20;
  return await new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let total = 0;
    let settled = false;
    const settle = (
      error: unknown,
      response?: Omit<HttpResponse, "attempts">,
    ) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      if (response) resolve(response);
      else reject(error);
    };
    const onAbort = () => {
      stream.reset();
      settle(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    const check = (ended: boolean) => {
      try {
        const parsed = parseResponse(concat(chunks, total), ended);
        if (parsed.done) {
          settle(undefined, parsed.response);
          if (!ended) void stream.close();
        }
      } catch (error) {
        stream.reset();
        settle(error);
      }
    };
    stream.setHandlers({
      onData(chunk) {
        chunks.push(chunk);
        total += chunk.byteLength;
        if (total > maxBytes) {
          stream.reset();
          settle(
            new HttpProtocolError(
              `Response exceeds the limit of ${maxBytes} bytes`,
            ),
          );
          return;
        }
        check(false);
      },
      onClose(error) {
        if (error) settle(error);
        else check(true);
      },
    });
    const target = `${url.pathname}${url.search}`;
    stream.write(
      new TextEncoder().encode(
        `GET ${target} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\nUser-Agent: sockmodels\r\n\r\n`,
      ),
    );
  });
}

/**
 * GETs an `http://` URL, retrying connection failures, timeouts and 5xx answers with backoff.
 * Resolves with the response (a 4xx included); rejects with a `RetryError` holding every
 * attempt's error when the attempts or the budget run out.
 */
export async function httpGetWithRetry(
  url: string | URL,
  options: HttpGetOptions = {},
): Promise<HttpResponse> {
  const parsed = new URL(url);
  if (parsed.protocol !== "http:") {
    throw new TypeError(
      `Only http:// URLs are supported, got ${JSON.stringify(parsed.protocol)}`,
    );
  }
  const transport = options.transport ?? await loadTransport(detectRuntime());
  let attempts = 0;
  return await retry(async ({ attempt, signal }) => {
    attempts = attempt;
    const response = await getOnce(parsed, transport, options, signal);
    if (response.status >= 500) {
      throw new HttpStatusError({ ...response, attempts });
    }
    return { ...response, attempts };
  }, {
    maxAttempts: options.maxAttempts ?? 5,
    maxElapsedMs: options.maxElapsedMs,
    backoff: options.backoff ?? { baseMs: 200, capMs: 30_000, jitter: "equal" },
    signal: options.signal,
    onRetry: options.onRetry,
  });
}

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
