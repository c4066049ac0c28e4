/**
 * Decoder throughput: sockmodels' framer against it-length-prefixed (its synchronous
 * `decode` over a Uint8ArrayList, with `.subarray()` per frame), length-prefixed-stream (its
 * stream decoder; varint prefixes only) and the memcpy limit (`Uint8Array#set` of the same
 * chunks into a reused buffer).
 *
 * Cases: (a) 1,000,000 frames of 32 B in 64 KiB chunks; (b) 10,000 frames of 64 KiB in
 * 1,500 B chunks; each with varint and with 4-byte big-endian prefixes. Every case runs in a
 * fresh process of the same runtime; each decoder runs 5 times (interleaved) and the median
 * counts. Throughput in GB/s is wire bytes (prefixes included) per second, 1 GB = 10^9 B.
 *
 * Usage: `node npm/esm/scripts/bench/framing.js`, `deno run -A scripts/bench/framing.ts`,
 * `bun scripts/bench/framing.ts`. With a case name as argument it runs that case only and
 * prints a JSON result line.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { decode as itlpDecode, type LengthDecoderFunction } from "it-length-prefixed";
import type { Uint8ArrayList } from "uint8arraylist";
import { encodeVarint, type FrameCodec, lengthPrefixed, varint, varintLength } from "../../src/framing/mod.ts";

type Prefix = "varint" | "u32";

interface CaseSpec {
  name: string;
  label: string;
  frames: number;
  payload: number;
  chunk: number;
  prefix: Prefix;
}

const CASES: CaseSpec[] = [
  { name: "a-varint", label: "(a) 1M × 32 B, 64 KiB chunks", frames: 1_000_000, payload: 32, chunk: 65536, prefix: "varint" },
  { name: "a-u32", label: "(a) 1M × 32 B, 64 KiB chunks", frames: 1_000_000, payload: 32, chunk: 65536, prefix: "u32" },
  { name: "b-varint", label: "(b) 10k × 64 KiB, 1,500 B chunks", frames: 10_000, payload: 65536, chunk: 1500, prefix: "varint" },
  { name: "b-u32", label: "(b) 10k × 64 KiB, 1,500 B chunks", frames: 10_000, payload: 65536, chunk: 1500, prefix: "u32" },
];

const RUNS = 5;
const DECODERS = ["sockmodels", "it-length-prefixed", "length-prefixed-stream", "memcpy"] as const;
type DecoderName = typeof DECODERS[number];

interface CaseResult {
  name: string;
  runtime: string;
  wireBytes: number;
  frames: number;
  /** Median milliseconds per decoder; null when the decoder cannot do the case. */
  ms: Record<DecoderName, number | null>;
}

function runtimeName(): string {
  const versions = process.versions as Record<string, string | undefined>;
  if (versions.bun !== undefined) return `bun ${versions.bun}`;
  if (versions.deno !== undefined) return `deno ${versions.deno}`;
  return `node ${process.versions.node}`;
}

/** Builds the wire bytes of the case and cuts them into chunk views. */
function buildInput(spec: CaseSpec): { wire: Uint8Array; chunks: Uint8Array[] } {
  const header = spec.prefix === "u32" ? 4 : varintLength(spec.payload);
  const record = header + spec.payload;
  const wire = new Uint8Array(record * spec.frames);
  const one = new Uint8Array(record);
  if (spec.prefix === "u32") new DataView(one.buffer).setUint32(0, spec.payload);
  else encodeVarint(spec.payload, one, 0);
  for (let i = header; i < record; i++) one[i] = (i * 31) & 0xff;
  wire.set(one, 0);
  // Doubling copies fill the rest quickly.
  for (let filled = record; filled < wire.length; filled *= 2) {
    wire.copyWithin(filled, 0, Math.min(filled, wire.length - filled));
  }
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < wire.length; at += spec.chunk) {
    chunks.push(wire.subarray(at, Math.min(at + spec.chunk, wire.length)));
  }
  return { wire, chunks };
}

function check(spec: CaseSpec, name: string, frames: number, bytes: number): void {
  if (frames !== spec.frames || bytes !== spec.frames * spec.payload) {
    throw new Error(`${name} decoded ${frames} frames of ${bytes} bytes in case ${spec.name}`);
  }
}

function runOurs(spec: CaseSpec, chunks: Uint8Array[]): void {
  const codec: FrameCodec = spec.prefix === "u32"
    ? lengthPrefixed({ lengthFieldLength: 4 })
    : varint();
  const d = codec.decoder();
  let frames = 0;
  let bytes = 0;
  for (let c = 0; c < chunks.length; c++) {
    const out = d.push(chunks[c]);
    for (let i = 0; i < out.length; i++) {
      frames++;
      bytes += out[i].length;
    }
  }
  d.end();
  check(spec, "sockmodels", frames, bytes);
}

const u32Decoder: LengthDecoderFunction = Object.assign(
  (data: Uint8ArrayList): number => {
    if (data.byteLength < 4) throw new RangeError("Not enough bytes for the length");
    return data.getUint32(0);
  },
  { bytes: 4 },
);

function runItlp(spec: CaseSpec, chunks: Uint8Array[]): void {
  const options = spec.prefix === "u32"
    ? { lengthDecoder: u32Decoder, maxDataLength: 1 << 20 }
    : { maxDataLength: 1 << 20 };
  let frames = 0;
  let bytes = 0;
  for (const list of itlpDecode(chunks, options)) {
    const frame = list.subarray();
    frames++;
    bytes += frame.length;
  }
  check(spec, "it-length-prefixed", frames, bytes);
}

interface LpsDecoder {
  on(event: "data", listener: (frame: Uint8Array) => void): void;
  once(event: "end" | "error", listener: (error?: unknown) => void): void;
  write(chunk: Uint8Array): boolean;
  end(): void;
}

const require = createRequire(import.meta.url);
const lps = require("length-prefixed-stream") as { decode(options?: { limit?: number }): LpsDecoder };

async function runLps(spec: CaseSpec, chunks: Uint8Array[]): Promise<void> {
  const d = lps.decode();
  let frames = 0;
  let bytes = 0;
  d.on("data", (frame) => {
    frames++;
    bytes += frame.length;
  });
  const done = new Promise<void>((resolve, reject) => {
    d.once("end", () => resolve());
    d.once("error", reject);
  });
  for (let c = 0; c < chunks.length; c++) d.write(chunks[c]);
  d.end();
  await done;
  check(spec, "length-prefixed-stream", frames, bytes);
}

/** The memcpy limit: every chunk copied once with `set` into a reused, cache-warm buffer. */
function runMemcpy(spec: CaseSpec, chunks: Uint8Array[], target: Uint8Array): void {
  let at = 0;
  let bytes = 0;
  for (let c = 0; c < chunks.length; c++) {
    const chunk = chunks[c];
    if (at + chunk.length > target.length) at = 0;
    target.set(chunk, at);
    at += chunk.length;
    bytes += chunk.length;
  }
  if (target[at - 1] === undefined || bytes === 0) throw new Error("memcpy copied nothing");
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function runCase(spec: CaseSpec): Promise<CaseResult> {
  const { wire, chunks } = buildInput(spec);
  // The memcpy target: one frame (case b) or one chunk (case a), whichever is larger.
  const target = new Uint8Array(Math.max(spec.chunk, spec.payload + 8));
  const times: Record<DecoderName, number[]> = {
    "sockmodels": [],
    "it-length-prefixed": [],
    "length-prefixed-stream": [],
    "memcpy": [],
  };
  const usable = (name: DecoderName): boolean =>
    name !== "length-prefixed-stream" || spec.prefix === "varint";
  for (let run = 0; run < RUNS; run++) {
    for (const name of DECODERS) {
      if (!usable(name)) continue;
      const t0 = performance.now();
      if (name === "sockmodels") runOurs(spec, chunks);
      else if (name === "it-length-prefixed") runItlp(spec, chunks);
      else if (name === "length-prefixed-stream") await runLps(spec, chunks);
      else runMemcpy(spec, chunks, target);
      times[name].push(performance.now() - t0);
    }
  }
  const ms = {} as Record<DecoderName, number | null>;
  for (const name of DECODERS) ms[name] = usable(name) ? median(times[name]) : null;
  return { name: spec.name, runtime: runtimeName(), wireBytes: wire.length, frames: spec.frames, ms };
}

function fmtRate(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)} M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)} k`;
  return x.toFixed(0);
}

function fmtRatio(a: number | null, b: number | null): string {
  if (a === null || b === null) return "n/a";
  return `${(b / a).toFixed(2)}×`;
}

function table(results: CaseResult[]): string {
  const lines = [
    "| case | prefix | decoder | median ms | frames/s | GB/s | vs it-length-prefixed | vs length-prefixed-stream | vs memcpy |",
    "|---|---|---|---:|---:|---:|---:|---:|---:|",
  ];
  for (const r of results) {
    const spec = CASES.find((c) => c.name === r.name) as CaseSpec;
    for (const name of DECODERS) {
      const ms = r.ms[name];
      if (ms === null) continue;
      const seconds = ms / 1000;
      const framesPerSecond = name === "memcpy" ? "—" : fmtRate(r.frames / seconds);
      lines.push(
        `| ${spec.label} | ${spec.prefix} | ${name} | ${ms.toFixed(1)} | ${framesPerSecond} | ${
          (r.wireBytes / seconds / 1e9).toFixed(2)
        } | ${fmtRatio(ms, r.ms["it-length-prefixed"])} | ${fmtRatio(ms, r.ms["length-prefixed-stream"])} | ${
          fmtRatio(ms, r.ms.memcpy)
        } |`,
      );
    }
  }
  return lines.join("\n");
}

/** Runs every case in a child process of the same runtime and prints the table. */
function main(): void {
  const script = fileURLToPath(import.meta.url);
  const versions = process.versions as Record<string, string | undefined>;
  const results: CaseResult[] = [];
  for (const spec of CASES) {
    const args = versions.deno !== undefined ? ["run", "-A", script, spec.name] : [script, spec.name];
    const child = spawnSync(process.execPath, args, { encoding: "utf8", maxBuffer: 1 << 24 });
    const line = (child.stdout ?? "").split("\n").find((l) => l.startsWith("RESULT "));
    if (child.status !== 0 || line === undefined) {
      process.stderr.write(child.stdout ?? "");
      process.stderr.write(child.stderr ?? "");
      throw new Error(`Case ${spec.name} failed with status ${child.status}`);
    }
    results.push(JSON.parse(line.slice("RESULT ".length)) as CaseResult);
    process.stderr.write(`done: ${spec.name}\n`);
  }
  console.log(`Framing decoders on ${runtimeName()}, median of ${RUNS} runs, one process per case.`);
  console.log("Ratios are this row's throughput over the named decoder's (higher is faster).\n");
  console.log(table(results));
}

const caseName = process.argv.find((arg) => CASES.some((c) => c.name === arg));
if (caseName !== undefined) {
  const result = await runCase(CASES.find((c) => c.name === caseName) as CaseSpec);
  console.log(`RESULT ${JSON.stringify(result)}`);
} else {
  main();
}
