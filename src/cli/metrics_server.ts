/**
 * `serve --metrics-port P`: the server's counters as Prometheus text at `/metrics`, on a port
 * of its own, over the same transport as the server. The exposition format is written here
 * rather than with a client library such as `prom-client`: it is a few lines of text, and the
 * package has no runtime dependencies.
 *
 * @module
 */

import type { Addr, Listener, Stream, Transport } from "../runtime/types.ts";
import { HANDLER_BUCKETS_SECONDS, type TrafficTotals } from "./traffic_counter.ts";

/**
 * What the metrics report, beyond the traffic totals.
 *
 * @example
 * ```ts
 * const extra: MetricsExtra = { rejected: 2, acceptFailures: { PROXY_PROTOCOL: 1 } };
 * ```
 */
export interface MetricsExtra {
  /** Connections refused for the connection limit. */
  rejected: number;
  /** Connections that failed before the server saw them (TLS handshakes, PROXY headers), by code. */
  acceptFailures: Record<string, number>;
  /** A chat's room lines that could not reach the other servers; only for a chat with a bus. */
  busDropped?: number;
}

/** Escapes a label value as the text format asks. */
function label(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

/**
 * One set of totals to report, with the labels that tell it apart (such as a group's
 * `worker`); one without labels for a single server.
 *
 * @example
 * ```ts
 * import { HANDLER_BUCKETS_SECONDS, type TrafficTotals } from "./traffic_counter.ts";
 * declare const totals: TrafficTotals;
 * const source: MetricsSource = { labels: { worker: "1" }, totals, extra: { rejected: 0, acceptFailures: {} } };
 * ```
 */
export interface MetricsSource {
  /** The labels of every sample of this source. */
  labels?: Record<string, string>;
  /** The traffic totals. */
  totals: TrafficTotals;
  /** The rest. */
  extra: MetricsExtra;
}

/**
 * The Prometheus text exposition (version 0.0.4) of a server's totals, or of several (one
 * per worker of a group, and the group's sum), told apart by their labels.
 *
 * @example
 * ```ts
 * import { HANDLER_BUCKETS_SECONDS, type TrafficTotals } from "./traffic_counter.ts";
 * declare const totals: TrafficTotals;
 * console.log(renderMetrics([{ totals, extra: { rejected: 0, acceptFailures: {} } }]));
 * ```
 */
export function renderMetrics(sources: MetricsSource[]): string {
  const lines: string[] = [];
  const labelText = (labels: Record<string, string>): string => {
    const pairs = Object.entries(labels).map(([name, value]) => `${name}="${label(value)}"`);
    return pairs.length === 0 ? "" : `{${pairs.join(",")}}`;
  };
  const metric = (
    name: string,
    type: "gauge" | "counter" | "histogram",
    help: string,
    samples: (source: MetricsSource) => [Record<string, string>, number, string?][],
  ) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const source of sources) {
      for (const [labels, value, suffix] of samples(source)) {
        lines.push(`${name}${suffix ?? ""}${labelText({ ...source.labels, ...labels })} ${value}`);
      }
    }
  };
  const one = (value: (s: MetricsSource) => number) => (s: MetricsSource): [Record<string, string>, number][] => [
    [{}, value(s)],
  ];
  const byLabel = (name: string, entries: [string, number][]): [Record<string, string>, number][] =>
    entries.map(([value, n]) => [{ [name]: value }, n]);
  metric("sockmodels_connections", "gauge", "Connections open now.", one((s) => s.totals.connections));
  metric(
    "sockmodels_queued_bytes",
    "gauge",
    "Bytes queued for sending on all connections.",
    one((s) => s.totals.queuedBytes),
  );
  metric(
    "sockmodels_tls_connections",
    "gauge",
    "Open TLS connections by protocol and ALPN.",
    (s) => byLabel("tls", Object.entries(s.totals.tls ?? {})),
  );
  metric("sockmodels_accepted_total", "counter", "Connections accepted.", one((s) => s.totals.accepted));
  metric(
    "sockmodels_rejected_total",
    "counter",
    "Connections refused for the connection limit.",
    one((s) => s.extra.rejected),
  );
  metric("sockmodels_frames_in_total", "counter", "Messages received.", one((s) => s.totals.messagesIn));
  metric("sockmodels_frames_out_total", "counter", "Messages sent.", one((s) => s.totals.messagesOut));
  metric("sockmodels_bytes_in_total", "counter", "Bytes received.", one((s) => s.totals.bytesIn));
  metric("sockmodels_bytes_out_total", "counter", "Bytes sent.", one((s) => s.totals.bytesOut));
  metric(
    "sockmodels_errors_total",
    "counter",
    "Connections closed on an error, by code.",
    (s) => byLabel("code", Object.entries(s.totals.errorsByCode ?? {})),
  );
  metric(
    "sockmodels_slow_readers_cut_total",
    "counter",
    "Connections closed for not reading what was sent to them.",
    one((s) => s.totals.errorsByCode?.ENOBUFS ?? 0),
  );
  if (sources.some((s) => s.extra.busDropped !== undefined)) {
    metric(
      "sockmodels_chat_bus_dropped_total",
      "counter",
      "Chat room lines delivered on this server only: the bus to the other servers was down.",
      one((s) => s.extra.busDropped ?? 0),
    );
  }
  metric(
    "sockmodels_proxy_failures_total",
    "counter",
    "Connections refused for their PROXY header.",
    one((s) => s.extra.acceptFailures.PROXY_PROTOCOL ?? 0),
  );
  metric(
    "sockmodels_tls_failures_total",
    "counter",
    "TLS handshakes that failed, by code.",
    (s) =>
      byLabel(
        "code",
        Object.entries(s.extra.acceptFailures).filter(([code]) =>
          code.startsWith("TLS_") || code.startsWith("CERT_") || code === "ALPN_MISMATCH"
        ),
      ),
  );
  metric(
    "sockmodels_handler_seconds",
    "histogram",
    "How long the server's data handler took per read.",
    (s) => {
      const h = s.totals.handler;
      if (!h) return [];
      let cumulative = 0;
      const buckets: [Record<string, string>, number, string][] = HANDLER_BUCKETS_SECONDS.map((bound, i) => {
        cumulative += h.counts[i];
        return [{ le: String(bound) }, cumulative, "_bucket"];
      });
      return [...buckets, [{ le: "+Inf" }, h.count, "_bucket"], [{}, h.sumSeconds, "_sum"], [{}, h.count, "_count"]];
    },
  );
  return lines.join("\n") + "\n";
}

const MAX_REQUEST = 8 * 1024;
const REQUEST_TIMEOUT_MS = 5000;

/**
 * Serves `render()` at `GET /metrics` on `hostname:port`, over `transport`. Anything else gets
 * 404 or 400; a request larger than 8 KiB or slower than 5 s is closed. Each response closes
 * its connection.
 *
 * @example
 * ```ts
 * import { defaultTransport } from "../runtime/detect.ts";
 * const metrics = await startMetricsServer(await defaultTransport(), "127.0.0.1", 0, () => "up 1\n");
 * await metrics.close();
 * ```
 */
export async function startMetricsServer(
  transport: Transport,
  hostname: string,
  port: number,
  render: () => string,
): Promise<{ addr: Addr; close(): Promise<void> }> {
  const open = new Set<Stream>();
  const listener: Listener = await transport.listen({
    hostname,
    port,
    onAccept(stream) {
      open.add(stream);
      let request = "";
      const decoder = new TextDecoder();
      const timer = setTimeout(() => stream.reset(), REQUEST_TIMEOUT_MS);
      let responded = false;
      const respond = (status: string, body: string, type = "text/plain; charset=utf-8") => {
        if (responded || stream.closed) return;
        responded = true;
        clearTimeout(timer);
        const bytes = new TextEncoder().encode(body);
        stream.write(
          new TextEncoder().encode(
            `HTTP/1.1 ${status}\r\nContent-Type: ${type}\r\nContent-Length: ${bytes.byteLength}\r\nConnection: close\r\n\r\n`,
          ),
        );
        stream.write(bytes);
        void stream.close().catch(() => {});
      };
      stream.setHandlers({
        onData(chunk) {
          request += decoder.decode(chunk, { stream: true });
          const end = request.indexOf("\r\n\r\n");
          if (end < 0) {
            if (request.length > MAX_REQUEST) respond("431 Request Header Fields Too Large", "Request too large\n");
            return;
          }
          stream.pause();
          const [method, target] = request.slice(0, request.indexOf("\r\n")).split(" ");
          if (method !== "GET") respond("405 Method Not Allowed", "Only GET /metrics\n");
          else if (target !== "/metrics") respond("404 Not Found", "Metrics are at /metrics\n");
          else respond("200 OK", render(), "text/plain; version=0.0.4; charset=utf-8");
        },
        onEnd: () => respond("400 Bad Request", "Incomplete request\n"),
        onClose: () => {
          clearTimeout(timer);
          open.delete(stream);
        },
      });
    },
  });
  return {
    addr: listener.addr,
    async close() {
      await listener.close();
      for (const stream of open) stream.reset();
    },
  };
}
