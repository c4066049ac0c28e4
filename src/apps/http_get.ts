/**
 * Seed 000's HTTP GET client with retries, on the runtime adapter and the resilience kit:
 *
 * - a connect timeout (name resolution plus connect, with Happy Eyeballs);
 * - an activity timeout that starts again on every byte received;
 * - retries with exponential backoff and equal jitter (the seed's `rand(0.5..1)`), for
 *   connection failures, timeouts and 5xx answers; a 4xx answer is returned, not retried.
 *
 * `examples/http_get_with_retry.ts` is its command line.
 *
 * @module
 */

import { NetError } from "../runtime/errors.ts";
import type { BackoffOptions } from "../resilience/backoff.ts";
import { connectWithTimeout } from "../resilience/connect.ts";
import { withIdleTimeout } from "../resilience/idle_timeout.ts";
import type { Resolver } from "../resilience/resolve.ts";
import { retry, type RetryInfo } from "../resilience/retry.ts";
import { detectRuntime, loadTransport } from "../runtime/detect.ts";
import type { Transport } from "../runtime/types.ts";

/**
 * Options of {@linkcode httpGetWithRetry}.
 *
 * @example
 * ```ts
 * const options: HttpGetOptions = { connectTimeoutMs: 3000, activityTimeoutMs: 5000, maxAttempts: 5 };
 * ```
 */
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

/**
 * A response.
 *
 * @example
 * ```ts
 * declare const response: HttpResponse;
 * console.log(response.status, response.headers["content-type"], response.body.byteLength);
 * ```
 */
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

/**
 * A 5xx answer: the server failed, so the request is tried again. It is the last attempt's
 * error (the `cause`) of the `RetryError` when every attempt got one.
 *
 * @example
 * ```ts
 * import { RetryError } from "sockmodels/resilience";
 * try {
 *   await httpGetWithRetry("http://127.0.0.1:8080/", { maxAttempts: 2 });
 * } catch (e) {
 *   if (e instanceof RetryError && e.cause instanceof HttpStatusError) console.log(e.cause.status);
 * }
 * ```
 */
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

/**
 * The response is not HTTP: a protocol error, never retried.
 *
 * @example
 * ```ts
 * try {
 *   await httpGetWithRetry("http://127.0.0.1:8080/");
 * } catch (e) {
 *   if (e instanceof HttpProtocolError) console.log(`not HTTP: ${e.message}`);
 * }
 * ```
 */
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
 *
 * @throws {TypeError} For a URL that is not `http://`.
 *
 * @example
 * ```ts
 * const response = await httpGetWithRetry("http://127.0.0.1:8080/status", { maxAttempts: 3 });
 * console.log(response.statusLine, `${response.body.byteLength} bytes`, `attempts: ${response.attempts}`);
 * ```
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
