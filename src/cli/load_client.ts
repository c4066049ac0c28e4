/**
 * The load client of the echo benchmarks, written on the adapter. It opens `connections`
 * connections, keeps `inFlight` 4-byte-length frames of `payloadSize` bytes pipelined on
 * each, checks every byte of every echoed frame, and measures round-trip latency and the
 * server process's CPU time per echoed message. It also reads the server's resident memory
 * before connecting and once the load is running, outside the measured window.
 *
 * @module
 */

import { defaultTransport } from "../runtime/detect.ts";
import { processCpuSeconds, processResidentBytes } from "../platform/process.ts";
import type { Stream, TlsClientOptions } from "../runtime/types.ts";

/**
 * Options of {@linkcode runLoad}.
 *
 * @example
 * ```ts
 * import type { ChildHandle } from "../platform/process.ts";
 * declare const child: ChildHandle;
 * const options: LoadOptions = {
 *   port: 9000,
 *   pid: child.pid,
 *   connections: 100,
 *   inFlight: 16,
 *   payloadSize: 64,
 *   seconds: 3,
 * };
 * ```
 */
export interface LoadOptions {
  /** The echo server's port on 127.0.0.1. */
  port: number;
  /** The server process, whose CPU time and memory are measured. */
  pid: number;
  /** More processes of the same server (a group's workers), whose CPU and memory count too. */
  morePids?: number[];
  /** How many connections to open. */
  connections: number;
  /** Frames kept in flight on each connection. */
  inFlight: number;
  /** Payload bytes of each frame. */
  payloadSize: number;
  /** How long to measure, in seconds. */
  seconds: number;
  /** How long to run before measuring, in milliseconds. Default 1000. */
  warmupMs?: number;
  /** Connect with TLS. */
  tls?: TlsClientOptions;
}

/**
 * What {@linkcode runLoad} measured.
 *
 * @example
 * ```ts
 * declare const options: LoadOptions;
 * const r: LoadResult = await runLoad(options);
 * console.log(`${Math.round(r.msgsPerSec)} msgs/s, p99 ${r.p99us} µs`);
 * ```
 */
export interface LoadResult {
  /** Echoed frames per second. */
  msgsPerSec: number;
  /** Median round-trip time, in microseconds. */
  p50us: number;
  /** 99th percentile round-trip time, in microseconds. */
  p99us: number;
  /** The server's CPU time per echoed frame, in microseconds. */
  cpuUsPerMsg: number;
  /** Frames that came back wrong, and connections that failed. */
  byteErrors: number;
  /** How many connections were open. */
  connections: number;
}

/**
 * What {@linkcode runLoad} measured, with the server's memory.
 *
 * @example
 * ```ts
 * declare const options: LoadOptions;
 * const r: LoadMeasurement = await runLoad(options);
 * console.log((r.rssLoadedBytes - r.rssBeforeBytes) / r.connections, "bytes per connection");
 * ```
 */
export interface LoadMeasurement extends LoadResult {
  /** The server's resident memory before the clients connected, in bytes. */
  rssBeforeBytes: number;
  /** The server's resident memory with the load running, in bytes. */
  rssLoadedBytes: number;
}

/**
 * The p-th percentile (0..100) of sorted numbers.
 *
 * @example
 * ```ts
 * console.log(percentile([1, 2, 3, 4], 50)); // 2
 * ```
 */
export function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function expectedByte(conn: number, seq: number, i: number): number {
  return (conn * 31 + seq * 7 + i * 13) & 0xff;
}

function makeFrame(conn: number, seq: number, payloadSize: number): Uint8Array {
  const frame = new Uint8Array(4 + payloadSize);
  new DataView(frame.buffer).setUint32(0, payloadSize);
  for (let i = 0; i < payloadSize; i++) frame[4 + i] = expectedByte(conn, seq, i);
  return frame;
}

/**
 * Runs the load against an echo server and measures it.
 *
 * @example
 * ```ts
 * import type { ChildHandle } from "../platform/process.ts";
 * declare const server: ChildHandle;
 * const result = await runLoad({
 *   port: 9000,
 *   pid: server.pid,
 *   connections: 10,
 *   inFlight: 16,
 *   payloadSize: 64,
 *   seconds: 1,
 * });
 * ```
 */
export async function runLoad(options: LoadOptions): Promise<LoadMeasurement> {
  const { port, pid, connections, inFlight, payloadSize, seconds } = options;
  const transport = await defaultTransport();
  const streams: Stream[] = [];
  let measuring = false;
  let running = true;
  let messages = 0;
  let byteErrors = 0;
  const latencies: number[] = [];
  const frameSize = 4 + payloadSize;

  const open = async (c: number) => {
    const stream = await transport.connect({ hostname: "127.0.0.1", port, timeoutMs: 30_000, tls: options.tls });
    streams.push(stream);
    const sentAt = new Float64Array(inFlight);
    let sendSeq = 0;
    let recvSeq = 0;
    let pending = new Uint8Array(0);
    stream.setHandlers({
      onData(chunk) {
        let buf = chunk;
        if (pending.byteLength > 0) {
          buf = new Uint8Array(pending.byteLength + chunk.byteLength);
          buf.set(pending);
          buf.set(chunk, pending.byteLength);
        }
        let off = 0;
        const now = performance.now();
        while (buf.byteLength - off >= frameSize) {
          const len = (buf[off] << 24 | buf[off + 1] << 16 | buf[off + 2] << 8 | buf[off + 3]) >>> 0;
          if (len !== payloadSize) byteErrors++;
          for (let i = 0; i < payloadSize; i++) {
            if (buf[off + 4 + i] !== expectedByte(c, recvSeq, i)) {
              byteErrors++;
              break;
            }
          }
          if (measuring) {
            messages++;
            if ((recvSeq & 7) === 0) latencies.push(now - sentAt[recvSeq % inFlight]);
          }
          recvSeq++;
          off += frameSize;
          if (running) {
            sentAt[sendSeq % inFlight] = now;
            stream.write(makeFrame(c, sendSeq++, payloadSize));
          }
        }
        pending = off === buf.byteLength ? new Uint8Array(0) : buf.slice(off);
      },
      onClose(error) {
        if (error && running) {
          byteErrors++;
          console.error(`connection ${c} closed: ${error.code} ${error.message}`);
        }
      },
    });
    const now = performance.now();
    for (let i = 0; i < inFlight; i++) {
      sentAt[sendSeq % inFlight] = now;
      stream.write(makeFrame(c, sendSeq++, payloadSize));
    }
  };

  const pids = [pid, ...(options.morePids ?? [])];
  const cpuNow = () => pids.reduce((sum, p) => sum + processCpuSeconds(p), 0);
  const rssNow = () => pids.reduce((sum, p) => sum + processResidentBytes(p), 0);
  const rssBeforeBytes = rssNow();
  for (let c = 0; c < connections; c += 50) {
    await Promise.all(Array.from({ length: Math.min(50, connections - c) }, (_, i) => open(c + i)));
  }
  await sleep(options.warmupMs ?? 1000); // warm-up
  const rssLoadedBytes = rssNow();
  const cpu0 = cpuNow();
  const t0 = performance.now();
  measuring = true;
  await sleep(seconds * 1000);
  measuring = false;
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = cpuNow() - cpu0;
  const counted = messages;
  running = false;
  await sleep(200);
  for (const s of streams) s.reset();
  latencies.sort((a, b) => a - b);
  return {
    msgsPerSec: counted / elapsed,
    p50us: percentile(latencies, 50) * 1000,
    p99us: percentile(latencies, 99) * 1000,
    cpuUsPerMsg: (cpu / counted) * 1e6,
    byteErrors,
    connections,
    rssBeforeBytes,
    rssLoadedBytes,
  };
}
