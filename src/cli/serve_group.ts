/**
 * `sockmodels serve … --processes N|auto`: N copies of the server on one port, one per core,
 * kept by a supervisor (this process). The supervisor prints what the workers log, each line
 * marked with the worker's number, and one stats line that sums them with a per-worker
 * breakdown; it serves the metrics of every worker and of the group; it restarts a worker that
 * dies; SIGINT and SIGTERM drain every worker, and SIGHUP replaces them one at a time.
 *
 * @module
 */

import { cliCommandLine } from "./cli_location.ts";
import type { CliIo } from "./cli_io.ts";
import { type MetricsExtra, type MetricsSource, renderMetrics, startMetricsServer } from "./metrics_server.ts";
import { ServerOutput, stoppedRecord } from "./server_output.ts";
import { sumTotals, type TrafficTotals } from "./traffic_counter.ts";
import { detectRuntime } from "../runtime/detect.ts";
import { formatHostPort } from "../runtime/errors.ts";
import type { Addr, Transport } from "../runtime/types.ts";
import { listenerMigration, onHangUpSignal } from "../platform/process.ts";
import {
  defaultPortSharing,
  type ProcessGroup,
  startProcessGroup,
  type WorkerInfo,
} from "../process_group/process_group.ts";

/**
 * What a worker reports about itself once a second: its totals and the counts the metrics
 * add.
 *
 * @example
 * ```ts
 * import type { TrafficTotals } from "./traffic_counter.ts";
 * declare const totals: TrafficTotals;
 * const report: WorkerTotals = { totals, extra: { rejected: 0, acceptFailures: {} } };
 * ```
 */
export interface WorkerTotals {
  /** The worker's traffic totals. */
  totals: TrafficTotals;
  /** Its refusals and failed accepts. */
  extra: MetricsExtra;
}

/**
 * How to run a group of servers.
 *
 * @example
 * ```ts
 * import { processIo } from "./cli_io.ts";
 * import { defaultTransport } from "../runtime/detect.ts";
 * const options: ServeGroupOptions = {
 *   args: ["echo", "--port", "9000"],
 *   processes: 2,
 *   server: "echo",
 *   host: "127.0.0.1",
 *   port: 9000,
 *   io: processIo(),
 *   transport: await defaultTransport(),
 *   json: false,
 *   quiet: false,
 * };
 * ```
 */
export interface ServeGroupOptions {
  /** The `serve` arguments as given (without `serve`); each worker gets them, less the group's own. */
  args: string[];
  /** How many workers. */
  processes: number;
  /** The server's name (`chat`, `echo`). */
  server: string;
  /** The address the workers listen on. */
  host: string;
  /** The port; 0 lets the first worker pick one. */
  port: number;
  /** Where to print. */
  io: CliIo;
  /** The transport of the metrics server. */
  transport: Transport;
  /** The metrics port, if metrics are wanted. */
  metricsPort?: number;
  /** Print JSON lines. */
  json: boolean;
  /** Print only the listening line and errors. */
  quiet: boolean;
  /** For a chat: whether its workers share rooms through Redis or through the group's channel. */
  chatBus?: "group" | "redis";
}

/** The group's own options, which workers do not get: each is followed by its value unless written `--name=value`. */
const GROUP_OPTIONS_WITH_VALUE = ["processes", "metrics-port", "port"];
const GROUP_FLAGS = ["json", "quiet"];

/**
 * The arguments of a worker: the given ones less the group's options, listening on `port`
 * and logging JSON for the supervisor.
 *
 * @example
 * ```ts
 * workerArguments(["echo", "--processes", "2", "--port=0"], 4100);
 * // ["serve", "echo", "--port", "4100", "--json"]
 * ```
 */
export function workerArguments(args: string[], port: number): string[] {
  const kept: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const match = /^--([a-z-]+)(=.*)?$/.exec(args[i]);
    if (match && GROUP_OPTIONS_WITH_VALUE.includes(match[1])) {
      if (match[2] === undefined) i++;
      continue;
    }
    if (match && GROUP_FLAGS.includes(match[1]) && match[2] === undefined) continue;
    kept.push(args[i]);
  }
  return ["serve", ...kept, "--port", String(port), "--json"];
}

/** The records a worker prints that the supervisor handles itself rather than relaying. */
const OWN_EVENTS = new Set(["listening", "totals", "stats", "metrics"]);

/**
 * Runs the group until SIGINT or SIGTERM; returns the exit code.
 *
 * @example
 * ```ts
 * import { processIo } from "./cli_io.ts";
 * import { defaultTransport } from "../runtime/detect.ts";
 * const io = processIo();
 * const code = await runServeGroup({
 *   args: ["echo", "--processes", "auto"],
 *   processes: 2,
 *   server: "echo",
 *   host: "127.0.0.1",
 *   port: 9000,
 *   io,
 *   transport: await defaultTransport(),
 *   json: false,
 *   quiet: false,
 * });
 * ```
 */
export async function runServeGroup(options: ServeGroupOptions): Promise<number> {
  const { io, processes } = options;
  const output = new ServerOutput({
    write: io.stdout,
    terminal: io.terminal,
    json: options.json,
    quiet: options.quiet,
  });
  const runtime = detectRuntime();
  const sharing = defaultPortSharing(runtime, options.transport.capabilities.reusePort);
  // By pid: while a roll replaces a worker, the old one (draining) and its replacement share
  // a number, and both count.
  const live = new Map<number, WorkerTotals & { id: number }>();
  // What workers that ended had counted, so that the group's counters never go back.
  let retired: TrafficTotals = sumTotals([]);
  const retiredExtra: MetricsExtra = { rejected: 0, acceptFailures: {} };

  const tag = (worker: WorkerInfo) => `[${worker.id}]`;
  const relay = (worker: WorkerInfo, record: Record<string, unknown>) => {
    if (record.event === "totals") {
      live.set(worker.pid, {
        id: worker.id,
        totals: record.totals as TrafficTotals,
        extra: record.extra as MetricsExtra,
      });
      return;
    }
    if (OWN_EVENTS.has(record.event as string)) return;
    const { time: _time, ...fields } = record;
    output.log({
      ...fields,
      event: String(record.event),
      message: `${tag(worker)} ${String(record.message ?? "")}`,
      worker: worker.id,
      pid: worker.pid,
    });
  };
  const retire = (worker: WorkerInfo) => {
    const last = live.get(worker.pid);
    if (!last) return;
    live.delete(worker.pid);
    retired = sumTotals([retired, { ...last.totals, connections: 0, queuedBytes: 0, tls: undefined }]);
    addExtra(retiredExtra, last.extra);
  };
  /** The live workers' reports by worker number, the processes sharing a number summed. */
  const byNumber = (): [number, { pids: number[]; totals: TrafficTotals; extra: MetricsExtra }][] => {
    const numbers = new Map<number, { pids: number[]; totals: TrafficTotals; extra: MetricsExtra }>();
    for (const [pid, w] of live) {
      const entry = numbers.get(w.id);
      if (!entry) {
        numbers.set(w.id, { pids: [pid], totals: w.totals, extra: { ...w.extra } });
        continue;
      }
      entry.pids.push(pid);
      entry.totals = sumTotals([entry.totals, w.totals]);
      entry.extra = addExtra(
        { rejected: entry.extra.rejected, acceptFailures: { ...entry.extra.acceptFailures } },
        w.extra,
      );
    }
    return [...numbers.entries()].sort(([a], [b]) => a - b);
  };
  const groupTotals = (): TrafficTotals => {
    const workers = byNumber();
    return {
      ...sumTotals([retired, ...workers.map(([, w]) => w.totals)]),
      workers: workers.map(([id, w]) => ({
        worker: id,
        pid: w.pids[w.pids.length - 1],
        connections: w.totals.connections,
        accepted: w.totals.accepted,
        messagesIn: w.totals.messagesIn,
        messagesOut: w.totals.messagesOut,
      })),
    };
  };
  const groupExtra = (): MetricsExtra => {
    const extra: MetricsExtra = { rejected: retiredExtra.rejected, acceptFailures: { ...retiredExtra.acceptFailures } };
    for (const w of live.values()) addExtra(extra, w.extra);
    return extra;
  };

  // Asked for now, so that SIGINT and SIGTERM during the start stop the group once it is up,
  // and SIGHUP does nothing until then (and while the group stops) rather than end this process.
  const stopRequest = io.stopRequested();
  let rollable: ProcessGroup | undefined;
  const stopHangUps = onHangUpSignal(() => {
    const running = rollable;
    if (running === undefined) return;
    output.log({ event: "rolling", message: "SIGHUP: replacing the workers one at a time" });
    running.roll().then(
      () =>
        output.log({
          event: "rolled",
          message: `replaced the workers: pids ${running.workers.map((w) => w.pid).join(", ")}`,
          workers: running.workers.map((w) => ({ worker: w.id, pid: w.pid })),
        }),
      (error: Error) => output.log({ event: "error", message: error.message }),
    );
  });
  if (sharing === "reuse-port" && listenerMigration() === false) {
    output.log({
      event: "notice",
      message: "a worker that SIGHUP replaces resets the connections still queued on its socket; " +
        "sysctl -w net.ipv4.tcp_migrate_req=1 hands them to the other workers instead",
    });
  }
  if (options.chatBus !== undefined) {
    output.log({
      event: "notice",
      message: `chat rooms span the ${processes} workers through ${
        options.chatBus === "redis" ? "Redis" : "the group's channel (and end at this machine)"
      }`,
    });
  }
  let group;
  try {
    group = await startProcessGroup({
      processes,
      port: options.port,
      sharing,
      ...(options.chatBus === "group" ? { channel: {} } : {}),
      command: (port) => cliCommandLine(runtime, workerArguments(options.args, port), ["--unstable-net"]),
      onRecord: relay,
      onText: (worker, line) => output.log({ event: "output", message: `${tag(worker)} ${line}`, worker: worker.id }),
      onStderr: (worker, text) => io.stderr(text.replace(/^(?=.)/gm, `${tag(worker)} `)),
      onReady: (worker) =>
        output.log({
          event: "worker-ready",
          message: `${tag(worker)} worker ${worker.id} (pid ${worker.pid}) listening`,
          worker: worker.id,
          pid: worker.pid,
          generation: worker.generation,
        }),
      onExit: (worker, exit) => {
        retire(worker);
        const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
        const stderr = exit.stderr.trim().split("\n").slice(-3).join(" / ");
        output.log({
          event: exit.expected ? "worker-exit" : "worker-died",
          message: exit.expected
            ? `${tag(worker)} worker ${worker.id} (pid ${worker.pid}) ended (${how})`
            : `${tag(worker)} worker ${worker.id} (pid ${worker.pid}) died (${how})${
              stderr ? `: ${stderr}` : ""
            }; restarting it in ${exit.restartInMs} ms`,
          worker: worker.id,
          pid: worker.pid,
          code: exit.code,
          signal: exit.signal,
          ...(exit.expected ? {} : { restartInMs: exit.restartInMs, stderr }),
        });
      },
    });
  } catch (error) {
    io.stderr(`sockmodels: Cannot start ${processes} workers: ${(error as Error).message}\n`);
    stopHangUps();
    return 1;
  }
  const address = formatHostPort(options.host, group.port);
  output.log({
    event: "listening",
    message: `listening on ${address} with ${processes} processes (${sharing})`,
    address,
    port: group.port,
    server: options.server,
    processes,
    sharing,
    workers: group.workers.map((w) => ({ worker: w.id, pid: w.pid })),
  });

  let metrics: { addr: Addr; close(): Promise<void> } | undefined;
  if (options.metricsPort !== undefined) {
    const sources = (): MetricsSource[] => [
      ...byNumber().map(([id, w]) => ({
        labels: { worker: String(id) },
        totals: w.totals,
        extra: w.extra,
      })),
      { labels: { worker: "all" }, totals: groupTotals(), extra: groupExtra() },
    ];
    try {
      metrics = await startMetricsServer(
        options.transport,
        options.host,
        options.metricsPort,
        () => renderMetrics(sources()),
      );
    } catch (error) {
      io.stderr(
        `sockmodels: Cannot serve metrics on ${formatHostPort(options.host, options.metricsPort)}: ${
          (error as Error).message
        }\n`,
      );
      await group.stop();
      stopHangUps();
      return 1;
    }
    const where = formatHostPort(metrics.addr.hostname, metrics.addr.port);
    output.log({ event: "metrics", message: `metrics on http://${where}/metrics`, address: where });
  }

  rollable = group;
  output.startStats(groupTotals);
  const signal = await stopRequest;
  rollable = undefined;
  output.stop();
  output.log({ event: "stopping", message: `${signal}: draining ${processes} workers` });
  await group.stop();
  stopHangUps();
  await metrics?.close();
  const t = groupTotals();
  output.log(stoppedRecord(t));
  return 0;
}

/** Adds `more`'s counts into `into`, and returns it. */
function addExtra(into: MetricsExtra, more: MetricsExtra): MetricsExtra {
  into.rejected += more.rejected;
  if (more.busDropped !== undefined) into.busDropped = (into.busDropped ?? 0) + more.busDropped;
  for (const [code, n] of Object.entries(more.acceptFailures)) {
    into.acceptFailures[code] = (into.acceptFailures[code] ?? 0) + n;
  }
  return into;
}
