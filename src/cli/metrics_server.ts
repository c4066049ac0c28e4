/**
 * `serve --metrics-port P`: the server's counters as Prometheus text at `/metrics`, on a port
 * of its own, over the same transport as the server. The exposition format is written here
 * rather than with a client library such as `prom-client`: it is a few lines of text, and the
 * package has no runtime dependencies.
 *
 * @module
 */

import type { Addr, Listener, Stream, Transport } from "../runtime/types.ts";
import type { TrafficTotals } from "./traffic_counter.ts";

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
}

/** Escapes a label value as the text format asks. */
function label(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

/**
 * The Prometheus text exposition (version 0.0.4) of a server's totals.
 *
 * @example
 * ```ts
 * import type { TrafficTotals } from "./traffic_counter.ts";
 * declare const totals: TrafficTotals;
 * console.log(renderMetrics(totals, { rejected: 0, acceptFailures: {} }));
 * ```
 */
export function renderMetrics(totals: TrafficTotals, extra: MetricsExtra): string {
  const lines: string[] = [];
  const metric = (name: string, type: "gauge" | "counter", help: string, samples: [string, number][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
  };
  const one = (value: number): [string, number][] => [["", value]];
  metric("sockmodels_connections", "gauge", "Connections open now.", one(totals.connections));
  metric("sockmodels_queued_bytes", "gauge", "Bytes queued for sending on all connections.", one(totals.queuedBytes));
  metric(
    "sockmodels_tls_connections",
    "gauge",
    "Open TLS connections by protocol and ALPN.",
    Object.entries(totals.tls ?? {}).map(([tls, n]) => [`{tls="${label(tls)}"}`, n]),
  );
  metric("sockmodels_accepted_total", "counter", "Connections accepted.", one(totals.accepted));
  metric("sockmodels_rejected_total", "counter", "Connections refused for the connection limit.", one(extra.rejected));
  metric("sockmodels_frames_in_total", "counter", "Messages received.", one(totals.messagesIn));
  metric("sockmodels_frames_out_total", "counter", "Messages sent.", one(totals.messagesOut));
  metric("sockmodels_bytes_in_total", "counter", "Bytes received.", one(totals.bytesIn));
  metric("sockmodels_bytes_out_total", "counter", "Bytes sent.", one(totals.bytesOut));
  metric(
    "sockmodels_errors_total",
    "counter",
    "Connections closed on an error, by code.",
    Object.entries(totals.errorsByCode ?? {}).map(([code, n]) => [`{code="${label(code)}"}`, n]),
  );
  metric(
    "sockmodels_slow_readers_cut_total",
    "counter",
    "Connections closed for not reading what was sent to them.",
    one(totals.errorsByCode?.ENOBUFS ?? 0),
  );
  const failures = Object.entries(extra.acceptFailures);
  metric(
    "sockmodels_proxy_failures_total",
    "counter",
    "Connections refused for their PROXY header.",
    one(failures.filter(([code]) => code === "PROXY_PROTOCOL").reduce((n, [, v]) => n + v, 0)),
  );
  metric(
    "sockmodels_tls_failures_total",
    "counter",
    "TLS handshakes that failed, by code.",
    failures.filter(([code]) => code.startsWith("TLS_") || code.startsWith("CERT_") || code === "ALPN_MISMATCH")
      .map(([code, n]) => [`{code="${label(code)}"}`, n]),
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
