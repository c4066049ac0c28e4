/**
 * What a `sockmodels serve` command prints: on a terminal, a live stats line redrawn once a
 * second (connections, messages per second in and out, bytes, errors, queued bytes) with log
 * lines printed above it; otherwise plain log lines, and a stats line every ten seconds while
 * there is traffic; with `--json`, one JSON object per line instead.
 *
 * @module
 */

import { tlsLabel, type TrafficTotals } from "./traffic_counter.ts";
import type { Addr, TlsInfo } from "../runtime/types.ts";
import type { ProxyHeader } from "../runtime/proxy_header.ts";
import { formatHostPort } from "../runtime/errors.ts";

/**
 * Where and how the output goes.
 *
 * @example
 * ```ts
 * const options: ServerOutputOptions = {
 *   write: (t) => console.log(t),
 *   terminal: false,
 *   json: true,
 * };
 * ```
 */
export interface ServerOutputOptions {
  /** Writes text to standard output. */
  write(text: string): void;
  /** Standard output is a terminal: draw the live line. */
  terminal: boolean;
  /** Print JSON lines instead of text. */
  json: boolean;
  /** Print only the `listening on` line and errors. */
  quiet?: boolean;
  /** The clock, for tests. Default `Date.now`. */
  now?: () => number;
}

/**
 * A log record: a short event name, a sentence, and fields.
 *
 * @example
 * ```ts
 * const record: LogRecord = {
 *   event: "open",
 *   message: "#3 connected from 127.0.0.1:50123",
 *   id: 3,
 * };
 * ```
 */
export interface LogRecord {
  /** A short, stable name such as `listening`, `open`, `close`, `stats`. */
  event: string;
  /** A sentence for people. */
  message: string;
  /** Further fields for machines. */
  [field: string]: unknown;
}

/**
 * Formats a byte count for people: `512 B`, `1.5 KiB`, `3.2 MiB`, `1.1 GiB`.
 *
 * @example
 * ```ts
 * console.log(formatBytes(1536)); // "1.5 KiB"
 * ```
 */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/**
 * The stats line: connections, messages per second in and out, bytes, errors, queue, the
 * open TLS connections by protocol and ALPN, and in a process group each worker's connections.
 *
 * @example
 * ```ts
 * import { tlsLabel, type TrafficTotals } from "./traffic_counter.ts";
import type { Addr, TlsInfo } from "../runtime/types.ts";
import type { ProxyHeader } from "../runtime/proxy_header.ts";
import { formatHostPort } from "../runtime/errors.ts";
 * declare const totals: TrafficTotals;
 * console.log(formatStatsLine(totals, 1200, 3600));
 * // 3 connections | in 1200 msg/s, out 3600 msg/s | 1.2 MiB in, 3.5 MiB out | 0 errors | queue 0 B
 * ```
 */
export function formatStatsLine(totals: TrafficTotals, inPerSecond: number, outPerSecond: number): string {
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  return [
    plural(totals.connections, "connection"),
    `in ${Math.round(inPerSecond)} msg/s, out ${Math.round(outPerSecond)} msg/s`,
    `${formatBytes(totals.bytesIn)} in, ${formatBytes(totals.bytesOut)} out`,
    plural(totals.errors, "error"),
    `queue ${formatBytes(totals.queuedBytes)}`,
    ...(totals.tls ? [Object.entries(totals.tls).map(([label, count]) => `${count} ${label}`).join(", ")] : []),
    ...(totals.workers
      ? [`per worker: ${totals.workers.map((w) => `[${w.worker}] ${w.connections}`).join(", ")}`]
      : []),
  ].join(" | ");
}

/**
 * The record of a connection that opened. A peer that reset at once can leave the runtime
 * without its address (Node and Bun then report none): the record says so, with `remote: null`,
 * rather than an address of `:0`.
 *
 * @example
 * ```ts
 * const record = openRecord(7, { hostname: "127.0.0.1", port: 5000, family: "IPv4" });
 * console.log(record.message); // "#7 connected from 127.0.0.1:5000"
 * ```
 */
export function openRecord(id: number, remote: Addr, tls?: TlsInfo, proxy?: ProxyHeader): LogRecord {
  const from = remote.hostname === "" ? null : formatHostPort(remote.hostname, remote.port);
  const record: LogRecord = {
    event: "open",
    message: `#${id} connected from ${from ?? "a peer whose address was gone (it reset at once)"}${
      tls ? ` (${tlsLabel(tls)})` : ""
    }${proxy ? ` via PROXY v${proxy.version}${proxy.command === "LOCAL" ? " LOCAL" : ""}` : ""}`,
    id,
    remote: from,
  };
  if (tls) {
    record.tls = tls.protocol ?? "TLS";
    record.alpn = tls.alpnProtocol ?? null;
  }
  if (proxy) record.proxy = proxy.version;
  return record;
}

/**
 * The last record of a server (or a group): what it handled, and its totals (less the handler
 * histogram, which belongs to the metrics).
 *
 * @example
 * ```ts
 * import { tlsLabel, type TrafficTotals } from "./traffic_counter.ts";
import type { Addr, TlsInfo } from "../runtime/types.ts";
import type { ProxyHeader } from "../runtime/proxy_header.ts";
import { formatHostPort } from "../runtime/errors.ts";
 * declare const totals: TrafficTotals;
 * console.log(stoppedRecord(totals).message); // "stopped after 3 connections, 10 messages in and 10 out"
 * ```
 */
export function stoppedRecord(t: TrafficTotals): LogRecord {
  return {
    event: "stopped",
    message: `stopped after ${t.accepted} connection${t.accepted === 1 ? "" : "s"}, ${t.messagesIn} message${
      t.messagesIn === 1 ? "" : "s"
    } in and ${t.messagesOut} out`,
    ...t,
    handler: undefined,
  };
}

const CLEAR_LINE = "\r\x1b[2K";
/** What `--quiet` still prints: the listening line, errors, and a worker of a group dying. */
const QUIET_EVENTS = new Set(["listening", "error", "worker-died"]);

/**
 * A server's output.
 *
 * @example
 * ```ts
 * import { stdoutIsTerminal, writeStdout } from "../platform/process.ts";
 * import type { TrafficCounter } from "./traffic_counter.ts";
 * declare const counter: TrafficCounter;
 * const out = new ServerOutput({ write: writeStdout, terminal: stdoutIsTerminal(), json: false });
 * out.log({ event: "listening", message: "listening on 127.0.0.1:9000" });
 * out.startStats(() => counter.totals());
 * ```
 */
export class ServerOutput {
  readonly #options: ServerOutputOptions;
  readonly #now: () => number;
  #liveLine = "";
  #timer: ReturnType<typeof setInterval> | undefined;
  #last: { at: number; in: number; out: number } | undefined;
  #ticks = 0;
  #lastLogged = "";
  #timeAt = Number.NaN;
  #timeText = "";

  constructor(options: ServerOutputOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Prints a record (quiet output prints only `listening`, `error` and `worker-died` records). */
  log(record: LogRecord): void {
    if (this.#options.quiet && !QUIET_EVENTS.has(record.event)) return;
    const line = this.#options.json ? JSON.stringify({ time: this.#time(), ...record }) : record.message;
    if (this.#liveLine) this.#options.write(`${CLEAR_LINE}${line}\n${this.#liveLine}`);
    else this.#options.write(`${line}\n`);
  }

  /** The time as ISO text, formatted once per millisecond: a burst of events shares it. */
  #time(): string {
    const now = this.#now();
    if (now !== this.#timeAt) {
      this.#timeAt = now;
      this.#timeText = new Date(now).toISOString();
    }
    return this.#timeText;
  }

  /**
   * Samples `totals` once a second: redraws the live line on a terminal, and otherwise logs a
   * `stats` record every ten seconds when something changed.
   */
  startStats(totals: () => TrafficTotals): void {
    if (this.#options.quiet || this.#timer !== undefined) return;
    const first = totals();
    this.#last = { at: this.#now(), in: first.messagesIn, out: first.messagesOut };
    this.#timer = setInterval(() => this.#sample(totals()), 1000);
  }

  /** Stops sampling and clears the live line. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#liveLine) this.#options.write(CLEAR_LINE);
    this.#liveLine = "";
  }

  #sample(t: TrafficTotals): void {
    const now = this.#now();
    const last = this.#last!;
    const seconds = Math.max(0.001, (now - last.at) / 1000);
    const inRate = (t.messagesIn - last.in) / seconds;
    const outRate = (t.messagesOut - last.out) / seconds;
    this.#last = { at: now, in: t.messagesIn, out: t.messagesOut };
    const line = formatStatsLine(t, inRate, outRate);
    if (this.#options.terminal && !this.#options.json) {
      this.#liveLine = line;
      this.#options.write(`${CLEAR_LINE}${line}`);
      return;
    }
    this.#ticks++;
    const summary = `${t.connections} ${t.messagesIn} ${t.messagesOut} ${t.errors}`;
    if (this.#ticks % 10 !== 0 || summary === this.#lastLogged) return;
    this.#lastLogged = summary;
    this.log({
      event: "stats",
      message: line,
      ...t,
      handler: undefined,
      messagesInPerSecond: Math.round(inRate),
      messagesOutPerSecond: Math.round(outRate),
    });
  }
}
