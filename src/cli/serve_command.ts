/**
 * `sockmodels serve chat|echo|omok`: starts a server, prints `listening on HOST:PORT`, logs
 * and counts its traffic, and shuts down gracefully when asked to stop (Ctrl-C).
 *
 * @module
 */

import { CHAT_FRAMINGS, type ChatFraming, startChatServer } from "../apps/chat/chat_server.ts";
import { ECHO_FRAMINGS, echoCodec, type EchoFraming, startEcho } from "../apps/echo.ts";
import { HOST_MODELS, type HostModel } from "../hosts/mod.ts";
import { startOmokServer } from "../apps/omok/omok_server.ts";
import type { AppLogEvent } from "../apps/app_log.ts";
import { formatHostPort } from "../runtime/errors.ts";
import { defaultTransport } from "../runtime/detect.ts";
import { guardConnections } from "../runtime/connection_guard.ts";
import {
  clusterDisconnected,
  cpuCount,
  environmentVariable,
  hostName,
  onHangUpSignal,
  openFileLimit,
  processId,
  readTextFile,
} from "../platform/process.ts";
import { groupWorker, joinGroupChannel, supervisorGone } from "../process_group/process_group.ts";
import type { ChatBus } from "../apps/chat/chat_bus.ts";
import { GroupChatBus } from "../apps/chat/group_bus.ts";
import { RedisChatBus } from "../apps/chat/redis_bus.ts";
import { parseRedisUrl } from "../redis/redis_client.ts";
import { tlsTransport } from "../runtime/tls_transport.ts";
import { proxyProtocol, type ProxyProtocolOptions } from "../runtime/proxy_protocol.ts";
import type { TlsServerOptions } from "../runtime/types.ts";
import type { NetError } from "../runtime/errors.ts";
import { RateLimitedWarning } from "./rate_limited_warning.ts";
import type { Addr, Transport } from "../runtime/types.ts";
import { alpnList, choiceValue, numberValue, type OptionDefinition } from "./arguments.ts";
import { parseSubcommand, type Subcommand, type SubcommandGroup, subcommandUsage } from "./subcommands.ts";
import type { CliIo } from "./cli_io.ts";
import { openRecord, ServerOutput, stoppedRecord } from "./server_output.ts";
import { TrafficCounter } from "./traffic_counter.ts";
import { type MetricsExtra, renderMetrics, startMetricsServer } from "./metrics_server.ts";
import { runServeGroup } from "./serve_group.ts";

const COMMON: Record<string, OptionDefinition> = {
  host: { type: "string", value: "HOST", default: "127.0.0.1", help: "the address to listen on" },
  port: { type: "string", value: "PORT", default: "9000", help: "the port to listen on; 0 picks a free one" },
  json: { type: "boolean", help: "log one JSON object per line" },
  quiet: { type: "boolean", help: "print only the listening line and errors" },
  "tls-cert": { type: "string", value: "FILE", help: "serve TLS with this PEM certificate chain (needs --tls-key)" },
  "tls-key": { type: "string", value: "FILE", help: "the PEM private key of --tls-cert" },
  "tls-ca": { type: "string", value: "FILE", help: "the CAs that client certificates must chain to" },
  "tls-require-client-cert": { type: "boolean", help: "refuse clients without a certificate from --tls-ca (mTLS)" },
  "tls-alpn": { type: "string", value: "LIST", help: "the ALPN protocols to offer, comma-separated, preferred first" },
  "metrics-port": {
    type: "string",
    value: "PORT",
    help: "serve Prometheus metrics at http://HOST:PORT/metrics; 0 picks a free port",
  },
  "proxy-protocol": {
    type: "string",
    value: "v1|v2|any",
    help: "every client comes through a balancer that opens with a PROXY header of this version",
  },
  "proxy-trusted": {
    type: "string",
    value: "CIDR,...",
    help: "with --proxy-protocol, the networks balancers may connect from (default: any)",
  },
  processes: {
    type: "string",
    value: "N|auto",
    default: "1",
    help: "run N copies of the server on the port, kept by this process; auto: one per core",
  },
  help: { type: "boolean", short: "h", help: "show this help" },
};

/** The options that bound what clients can hold, with a server's defaults (0: no limit). */
function limitOptions(idleSeconds: number, maxConnections: number): Record<string, OptionDefinition> {
  return {
    "idle-timeout": {
      type: "string",
      value: "SECONDS",
      default: String(idleSeconds),
      help: "disconnect a client that sent no complete message for this long; 0 never does",
    },
    "max-connections": {
      type: "string",
      value: "N",
      default: String(maxConnections),
      help: "refuse clients past this many at once (and past what the descriptor limit allows); 0: only that",
    },
  };
}

/** The TLS options of `--tls-*`, read from their files; undefined without `--tls-cert`. */
function tlsServerOptions(values: Record<string, unknown>): TlsServerOptions | undefined {
  const cert = values["tls-cert"];
  const key = values["tls-key"];
  if (cert === undefined && key === undefined) {
    if (
      values["tls-ca"] !== undefined || values["tls-require-client-cert"] === true || values["tls-alpn"] !== undefined
    ) {
      throw new TypeError("--tls-ca, --tls-alpn and --tls-require-client-cert need --tls-cert and --tls-key");
    }
    return undefined;
  }
  if (typeof cert !== "string" || typeof key !== "string") {
    throw new TypeError("TLS needs both --tls-cert FILE and --tls-key FILE");
  }
  const read = (path: string, what: string): string => {
    try {
      return readTextFile(path);
    } catch (error) {
      throw new Error(`Cannot read the TLS ${what} ${path}: ${(error as Error).message}`);
    }
  };
  return {
    cert: read(cert, "certificate"),
    key: read(key, "key"),
    ...(typeof values["tls-ca"] === "string" ? { ca: read(values["tls-ca"], "CA file") } : {}),
    ...(values["tls-require-client-cert"] === true ? { requestClientCert: true } : {}),
    ...(typeof values["tls-alpn"] === "string" ? { alpnProtocols: alpnList(values["tls-alpn"]) } : {}),
  };
}

/** The options of `--proxy-protocol` and `--proxy-trusted`; undefined without the first. */
function proxyOptions(values: Record<string, unknown>): ProxyProtocolOptions | undefined {
  const version = values["proxy-protocol"];
  const trusted = values["proxy-trusted"];
  if (version === undefined) {
    if (trusted !== undefined) throw new TypeError("--proxy-trusted needs --proxy-protocol v1|v2|any");
    return undefined;
  }
  if (version !== "v1" && version !== "v2" && version !== "any") {
    throw new TypeError(`--proxy-protocol must be v1, v2 or any, got ${JSON.stringify(version)}`);
  }
  return {
    version,
    ...(typeof trusted === "string" ? { trusted: trusted.split(",").map((cidr) => cidr.trim()) } : {}),
  };
}

/** Descriptors kept free for everything but client connections: listeners, files, the runtime. */
function descriptorReserve(limit: number): number {
  return Math.min(1024, Math.max(64, Math.floor(limit / 8)));
}

/** How often a repeated warning (refused clients, failed accepts) is logged at most. */
const WARNING_INTERVAL_MS = 10_000;

const CHAT_OPTIONS: Record<string, OptionDefinition> = {
  model: {
    type: "string",
    value: HOST_MODELS.join("|"),
    default: "engine",
    help: "the I/O model (adapter: the bare runtime adapter)",
  },
  framing: { type: "string", value: CHAT_FRAMINGS.join("|"), default: "lines", help: "how messages are delimited" },
  "high-water-mark": {
    type: "string",
    value: "BYTES",
    default: String(1024 * 1024),
    help: "a client with more than this queued for it is disconnected as too slow",
  },
  redis: {
    type: "string",
    value: "URL",
    help: "share the rooms with other servers through Redis: redis://[:PASSWORD@]HOST:PORT, " +
      "or rediss:// for TLS (default: $REDIS_URL)",
  },
  "redis-ca": { type: "string", value: "FILE", help: "the CAs that a rediss:// server's certificate must chain to" },
  ...limitOptions(300, 10_000),
  ...COMMON,
};

const ECHO_OPTIONS: Record<string, OptionDefinition> = {
  model: {
    type: "string",
    value: HOST_MODELS.join("|"),
    default: "engine",
    help: "the I/O model (adapter: the bare runtime adapter, the models' baseline)",
  },
  framing: { type: "string", value: ECHO_FRAMINGS.join("|"), default: "raw", help: "what is echoed: chunks or frames" },
  ...limitOptions(0, 0),
  ...COMMON,
};

const OMOK_OPTIONS: Record<string, OptionDefinition> = {
  model: {
    type: "string",
    value: HOST_MODELS.join("|"),
    default: "engine",
    help: "the I/O model (adapter: the bare runtime adapter)",
  },
  grace: {
    type: "string",
    value: "SECONDS",
    default: "30",
    help: "how long a player who disconnects mid-game may take to come back before forfeiting",
  },
  ...limitOptions(300, 10_000),
  ...COMMON,
};

const SERVERS: Record<string, Subcommand> = {
  chat: {
    options: CHAT_OPTIONS,
    about: "A chat server: every line goes to everyone in the sender's room.\n" +
      "Commands: /nick NAME, /join ROOM, /who, /quit. Try it with: nc 127.0.0.1 9000",
  },
  echo: {
    options: ECHO_OPTIONS,
    about: "An echo server on the chosen I/O model: every chunk (raw) or frame comes back.",
  },
  omok: {
    options: OMOK_OPTIONS,
    about: "Two-player omok (gomoku) on a 15x15 board. The first client plays black and moves first;\n" +
      "exactly five in a row wins, an overline (six or more) does not. Later clients spectate.\n" +
      "Play with: sockmodels client omok (or nc 127.0.0.1 9000, typing moves such as h8).",
  },
};

const SERVE: SubcommandGroup = { group: "serve", noun: "server", needs: "a server", kinds: SERVERS };

/**
 * The usage of `sockmodels serve`, or of one server.
 *
 * @example
 * ```ts
 * console.log(serveUsage("chat"));
 * ```
 */
export function serveUsage(server?: string): string {
  return subcommandUsage(SERVE, server);
}

/**
 * Runs `sockmodels serve …` until the user asks it to stop; returns the exit code.
 *
 * @example
 * ```ts
 * import { processIo } from "./cli_io.ts";
 * const code = await runServe(["chat", "--port", "9000"], processIo());
 * ```
 */
export async function runServe(args: string[], io: CliIo, transport?: Transport): Promise<number> {
  const parsed = parseSubcommand(SERVE, args);
  if (typeof parsed === "string") {
    io.stdout(parsed + "\n");
    return 0;
  }
  const { name: server, command, values, host, port } = parsed;
  const framingChoices = server === "chat" ? CHAT_FRAMINGS : server === "echo" ? ECHO_FRAMINGS : ["lines" as const];
  const framing = server === "omok"
    ? "lines"
    : choiceValue(values.framing as string, framingChoices as readonly string[], "Framing", command) as EchoFraming;
  const model = choiceValue(values.model as string, HOST_MODELS, "Model", command);
  const highWaterMark = server === "chat"
    ? numberValue(values["high-water-mark"] as string, "High water mark", command, {
      min: 1,
      max: 2 ** 40,
      integer: true,
    })
    : 0;
  const graceMs = server === "omok"
    ? numberValue(values.grace as string, "Grace", command, { min: 0, max: 86_400 }) * 1000
    : 0;
  const idleSeconds = numberValue(values["idle-timeout"] as string, "Idle timeout", command, {
    min: 0,
    max: 86_400 * 365,
  });
  const idleTimeoutMs = idleSeconds > 0 ? idleSeconds * 1000 : undefined;
  const requestedMax = numberValue(values["max-connections"] as string, "Max connections", command, {
    min: 0,
    max: 2 ** 31,
    integer: true,
  });
  const fileLimit = openFileLimit();
  const descriptorMax = fileLimit === undefined ? undefined : Math.max(1, fileLimit - descriptorReserve(fileLimit));
  const maxConnections = requestedMax > 0 && (descriptorMax === undefined || requestedMax <= descriptorMax)
    ? requestedMax
    : descriptorMax;

  const output = new ServerOutput({
    write: io.stdout,
    terminal: io.terminal,
    json: values.json === true,
    quiet: values.quiet === true,
  });
  const limitWhy = maxConnections === requestedMax || fileLimit === undefined || maxConnections === undefined
    ? "--max-connections"
    : `the descriptor limit of ${fileLimit} less ${fileLimit - maxConnections} kept in reserve`;
  const refusals = new RateLimitedWarning(WARNING_INTERVAL_MS, (count) =>
    output.log({
      event: "refused",
      message: `refused ${count} connection${
        count === 1 ? "" : "s"
      }: ${maxConnections} clients are connected, the limit (${limitWhy})`,
      refused: count,
      limit: maxConnections,
    }));
  const proxyRefusals = new RateLimitedWarning(WARNING_INTERVAL_MS, (count, error?: NetError) =>
    output.log({
      event: "proxy-refused",
      message: `refused ${count} connection${count === 1 ? "" : "s"} without a good PROXY header (${error?.message})`,
      refused: count,
      error: error?.message,
    }));
  const acceptErrors = new RateLimitedWarning(WARNING_INTERVAL_MS, (count, error?: NetError) =>
    output.log({
      event: "accept-error",
      message: `accepting failed ${count} time${
        count === 1 ? "" : "s"
      } (${error?.code}: ${error?.message}); still serving the clients already connected`,
      failures: count,
      error: error?.code,
    }));
  const metricsExtra: MetricsExtra = { rejected: 0, acceptFailures: {} };
  const metricsPort = values["metrics-port"] === undefined
    ? undefined
    : numberValue(values["metrics-port"] as string, "Metrics port", command, { min: 0, max: 65535, integer: true });
  const plainTransport = transport ?? await defaultTransport();
  let base = plainTransport;
  let serverTls: TlsServerOptions | undefined;
  try {
    serverTls = tlsServerOptions(values);
    if (serverTls) base = tlsTransport(base, { server: serverTls });
    const proxy = proxyOptions(values);
    if (proxy && serverTls) {
      throw new TypeError("--proxy-protocol and --tls-cert do not go together: terminate TLS at the balancer");
    }
    if (proxy) base = proxyProtocol(base, proxy);
  } catch (error) {
    io.stderr(`sockmodels: ${(error as Error).message}\n`);
    return 2;
  }
  const redisUrl = server === "chat"
    ? (values.redis as string | undefined) ?? environmentVariable("REDIS_URL")
    : undefined;
  let redisCa: string | undefined;
  try {
    if (redisUrl !== undefined) parseRedisUrl(redisUrl);
    if (values["redis-ca"] !== undefined) redisCa = readTextFile(values["redis-ca"] as string);
  } catch (error) {
    io.stderr(`sockmodels: ${(error as Error).message}\n`);
    return 2;
  }
  const worker = groupWorker();
  const processes = values.processes === "auto"
    ? cpuCount()
    : numberValue(values.processes as string, "Processes", command, { min: 1, max: 1024, integer: true });
  if (worker === undefined && processes > 1) {
    if (server === "omok") {
      io.stderr(
        `sockmodels: Omok keeps each game in one process, so it runs as one; --processes must be 1, got ${processes}\n`,
      );
      return 2;
    }
    return runServeGroup({
      args,
      processes,
      server,
      host,
      port,
      io,
      transport: plainTransport,
      metricsPort,
      json: values.json === true,
      quiet: values.quiet === true,
      chatBus: server !== "chat" ? undefined : redisUrl !== undefined ? "redis" : "group",
    });
  }
  if (worker?.sharing === "reuse-port") base = listenWithReusePort(base);
  const guarded = guardConnections(base, {
    maxConnections,
    // Chat and omok time out clients that sent no whole line, in their host; echo by bytes.
    idleTimeoutMs: server === "echo" ? idleTimeoutMs : undefined,
    onRefused: () => {
      metricsExtra.rejected++;
      refusals.note();
    },
    onAcceptError: (error) => {
      metricsExtra.acceptFailures[error.code] = (metricsExtra.acceptFailures[error.code] ?? 0) + 1;
      error.code === "PROXY_PROTOCOL" ? proxyRefusals.note(error) : acceptErrors.note(error);
    },
  });
  const counter = new TrafficCounter(guarded, echoCodec(framing), {
    onOpen: (id, remote, tls, proxy) => output.log(openRecord(id, remote, tls, proxy)),
    onClose: (id, error) =>
      output.log({
        event: "close",
        message: `#${id} closed${error ? ` (${error.code}: ${error.message})` : ""}`,
        id,
        ...(error ? { error: error.code } : {}),
      }),
  });
  const onLog = (e: AppLogEvent) => output.log(e);
  let running: { addr: Addr; close(): Promise<void> };
  try {
    const where = { transport: counter.transport, hostname: host, port };
    if (server === "chat") {
      let bus: ChatBus | undefined;
      if (redisUrl !== undefined) {
        bus = new RedisChatBus({
          url: redisUrl,
          // Unique per start: a process restarted with the same pid (pid 1 in a container)
          // must not take over the entries of the one that died.
          node: `${hostName()}-${processId()}-${Math.random().toString(36).slice(2, 8)}`,
          transport: plainTransport,
          ...(redisCa ? { tls: { ca: redisCa } } : {}),
        });
      } else if (worker) {
        bus = new GroupChatBus({ self: processId(), join: joinGroupChannel });
      }
      const chat = await startChatServer({
        ...where,
        model: model as HostModel,
        framing: framing as ChatFraming,
        highWaterMark,
        idleTimeoutMs,
        onLog,
        bus,
      });
      if (bus) Object.defineProperty(metricsExtra, "busDropped", { get: () => chat.hub.dropped, enumerable: true });
      running = chat;
    } else if (server === "echo") {
      running = await startEcho(model as HostModel, { ...where, framing: framing as EchoFraming });
    } else {
      running = await startOmokServer({ ...where, model: model as HostModel, graceMs, idleTimeoutMs, onLog });
    }
  } catch (error) {
    io.stderr(`sockmodels: Cannot listen on ${formatHostPort(host, port)}: ${(error as Error).message}\n`);
    return 1;
  }
  const address = formatHostPort(running.addr.hostname, running.addr.port);
  output.log({
    event: "listening",
    message: `listening on ${address}${serverTls ? " (TLS)" : ""}`,
    address,
    port: running.addr.port,
    server,
    model,
    framing,
    tls: serverTls !== undefined,
  });
  let metrics: { addr: Addr; close(): Promise<void> } | undefined;
  if (metricsPort !== undefined) {
    let started: { addr: Addr; close(): Promise<void> };
    try {
      started = await startMetricsServer(
        plainTransport,
        host,
        metricsPort,
        () => renderMetrics([{ totals: counter.totals(), extra: metricsExtra }]),
      );
    } catch (error) {
      io.stderr(
        `sockmodels: Cannot serve metrics on ${formatHostPort(host, metricsPort)}: ${(error as Error).message}\n`,
      );
      await running.close();
      return 1;
    }
    metrics = started;
    const where = formatHostPort(started.addr.hostname, started.addr.port);
    output.log({ event: "metrics", message: `metrics on http://${where}/metrics`, address: where });
  }
  // A worker reports to its group instead of printing stats, and leaves SIGHUP to the group.
  const reportTotals = () =>
    output.log({ event: "totals", message: "", totals: counter.totals(), extra: metricsExtra });
  const reporter = worker ? setInterval(reportTotals, 1000) : undefined;
  const ignoreHangUp = worker ? onHangUpSignal(() => {}) : undefined;
  if (!worker) output.startStats(() => counter.totals());
  const orphaned = worker ? supervisorGone() : undefined;
  const signal = await Promise.race([
    io.stopRequested(),
    ...(orphaned ? [orphaned.promise.then(() => "the supervisor ended")] : []),
  ]);
  if (signal !== "the supervisor ended") orphaned?.cancel();
  clearInterval(reporter);
  output.stop();
  refusals.stop();
  acceptErrors.stop();
  proxyRefusals.stop();
  output.log({ event: "stopping", message: `${signal}: shutting down` });
  await metrics?.close();
  await running.close();
  // A cluster worker waits until the primary has let it go, so that a connection handed to it
  // just before is served rather than dropped with the process.
  if (worker?.sharing === "cluster") await clusterDisconnected(5000);
  const t = counter.totals();
  if (worker) reportTotals();
  ignoreHangUp?.();
  output.log(stoppedRecord(t));
  return 0;
}

/** The transport with every listener sharing its port (`SO_REUSEPORT`) with the group's other workers. */
function listenWithReusePort(inner: Transport): Transport {
  return {
    get name() {
      return inner.name;
    },
    get capabilities() {
      return inner.capabilities;
    },
    listen: (options) => inner.listen({ ...options, reusePort: true }),
    connect: (options) => inner.connect(options),
    bindDatagram: (options) => inner.bindDatagram(options),
  };
}
