/**
 * Decoder throughput: sockmodels' framer against it-length-prefixed (its synchronous
 * `decode` over a Uint8ArrayList, with `.subarray()` per frame), length-prefixed-stream (its
 * stream decoder; varint prefixes only) and the memcpy limit (`Uint8Array#set` of the same
 * chunks into a reused buffer). Case (b) adds "alloc+memcpy": one fresh
 * `new Uint8Array(64 KiB)` per frame plus the same `set` calls, the floor of any decoder that
 * hands each large frame over in a buffer of its own.
 *
 * Cases: (a) 1,000,000 frames of 32 B in 64 KiB chunks; (b) 10,000 frames of 64 KiB in
 * 1,500 B chunks; each with varint and with 4-byte big-endian prefixes. Every case runs in a
 * fresh process of the same runtime; each decoder runs once untimed, then 5 timed times
 * (interleaved with the others), and the median counts. Throughput in GB/s is wire bytes
 * (prefixes included) per second, 1 GB = 10^9 B.
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
import {
  encodeVarint,
  type FrameCodec,
  FramePool,
  lengthPrefixed,
  varint,
  varintLength,
} from "../../src/framing/mod.ts";

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
  {
    name: "a-varint",
    label: "(a) 1M × 32 B, 64 KiB chunks",
    frames: 1_000_000,
    payload: 32,
    chunk: 65536,
    prefix: "varint",
  },
  {
    name: "a-u32",
    label: "(a) 1M × 32 B, 64 KiB chunks",
    frames: 1_000_000,
    payload: 32,
    chunk: 65536,
    prefix: "u32",
  },
  {
    name: "b-varint",
    label: "(b) 10k × 64 KiB, 1,500 B chunks",
    frames: 10_000,
    payload: 65536,
    chunk: 1500,
    prefix: "varint",
  },
  {
    name: "b-u32",
    label: "(b) 10k × 64 KiB, 1,500 B chunks",
    frames: 10_000,
    payload: 65536,
    chunk: 1500,
    prefix: "u32",
  },
];

const RUNS = 5;
const DECODERS = [
  "sockmodels",
  "sockmodels+pool",
  "it-length-prefixed",
  "length-prefixed-stream",
  "memcpy",
  "alloc+memcpy",
] as const;
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

/**
 * Builds the case's chunks. Every frame is the same, so the stream repeats with the period of
 * one record (prefix and payload): each chunk is a view of a small buffer that holds a few
 * records, at the chunk's offset modulo the record size. The input is therefore as cache-warm
 * as bytes just handed over by a socket read, and a 655 MB stream does not have to sit in
 * memory.
 */
function buildInput(
  spec: CaseSpec,
): { wireBytes: number; chunks: Uint8Array[] } {
  const header = spec.prefix === "u32" ? 4 : varintLength(spec.payload);
  const record = header + spec.payload;
  const wireBytes = record * spec.frames;
  const records = Math.ceil((record + spec.chunk) / record) + 1;
  const pattern = new Uint8Array(record * records);
  for (let r = 0; r < records; r++) {
    const at = r * record;
    if (spec.prefix === "u32") {
      new DataView(pattern.buffer).setUint32(at, spec.payload);
    } else encodeVarint(spec.payload, pattern, at);
    for (let i = header; i < record; i++) pattern[at + i] = (i * 31) & 0xff;
  }
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < wireBytes; at += spec.chunk) {
    const start = at % record;
    chunks.push(
      pattern.subarray(start, start + Math.min(spec.chunk, wireBytes - at)),
    );
  }
  return { wireBytes, chunks };
}

function check(
  spec: CaseSpec,
  name: string,
  frames: number,
  bytes: number,
): void {
  if (frames !== spec.frames || bytes !== spec.frames * spec.payload) {
    throw new Error(
      `${name} decoded ${frames} frames of ${bytes} bytes in case ${spec.name}`,
    );
  }
}

/**
 * Our decoder. With a pool, each frame is released once counted, as an application that is
 * done with a frame does; frames that are views of a chunk are not pooled and are ignored.
 */
function runOurs(spec: CaseSpec, chunks: Uint8Array[], pool?: FramePool): void {
  const codec: FrameCodec = spec.prefix === "u32" ? lengthPrefixed({ lengthFieldLength: 4, pool }) : varint({ pool });
  const d = codec.decoder();
  let frames = 0;
  let bytes = 0;
  for (let c = 0; c < chunks.length; c++) {
    const out = d.push(chunks[c]);
    for (let i = 0; i < out.length; i++) {
      frames++;
      bytes += out[i].length;
      pool?.release(out[i]);
    }
  }
  d.end();
  check(spec, pool ? "sockmodels+pool" : "sockmodels", frames, bytes);
}

const u32Decoder: LengthDecoderFunction = Object.assign(
  (data: Uint8ArrayList): number => {
    if (data.byteLength < 4) {
      throw new RangeError("Not enough bytes for the length");
    }
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
const lps = require("length-prefixed-stream") as {
  decode(options?: { limit?: number }): LpsDecoder;
};

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
function runMemcpy(chunks: Uint8Array[], target: Uint8Array): void {
  let at = 0;
  let bytes = 0;
  for (let c = 0; c < chunks.length; c++) {
    const chunk = chunks[c];
    if (at + chunk.length > target.length) at = 0;
    target.set(chunk, at);
    at += chunk.length;
    bytes += chunk.length;
  }
  if (target[at - 1] === undefined || bytes === 0) {
    throw new Error("memcpy copied nothing");
  }
}

/**
 * The floor of any decoder that delivers each large frame in a buffer of its own (case b):
 * one `new Uint8Array(payload)` per frame, and every chunk copied once with `set`. Headers
 * are copied along with the payload bytes; only the byte count matters.
 */
function runAllocMemcpy(spec: CaseSpec, chunks: Uint8Array[]): void {
  let frame = new Uint8Array(spec.payload);
  let at = 0;
  let frames = 0;
  for (let c = 0; c < chunks.length; c++) {
    const chunk = chunks[c];
    let pos = 0;
    while (pos < chunk.length) {
      const n = Math.min(frame.length - at, chunk.length - pos);
      frame.set(
        pos === 0 && n === chunk.length ? chunk : chunk.subarray(pos, pos + n),
        at,
      );
      at += n;
      pos += n;
      if (at === frame.length) {
        frames++;
        frame = new Uint8Array(spec.payload);
        at = 0;
      }
    }
  }
  if (frames < spec.frames) {
    throw new Error(`alloc+memcpy filled ${frames} frames`);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function runCase(spec: CaseSpec): Promise<CaseResult> {
  const { wireBytes, chunks } = buildInput(spec);
  // The memcpy target: one frame (case b) or one chunk (case a), whichever is larger.
  const target = new Uint8Array(Math.max(spec.chunk, spec.payload + 8));
  const times: Record<DecoderName, number[]> = {
    "sockmodels": [],
    "sockmodels+pool": [],
    "it-length-prefixed": [],
    "length-prefixed-stream": [],
    "memcpy": [],
    "alloc+memcpy": [],
  };
  const usable = (name: DecoderName): boolean =>
    (name !== "length-prefixed-stream" || spec.prefix === "varint") &&
    (name !== "alloc+memcpy" || spec.payload > spec.chunk);
  const pool = new FramePool();
  // One untimed warm-up run, then RUNS timed runs, interleaved across decoders.
  for (let run = 0; run <= RUNS; run++) {
    for (const name of DECODERS) {
      if (!usable(name)) continue;
      const t0 = performance.now();
      if (name === "sockmodels") runOurs(spec, chunks);
      else if (name === "sockmodels+pool") runOurs(spec, chunks, pool);
      else if (name === "it-length-prefixed") runItlp(spec, chunks);
      else if (name === "length-prefixed-stream") await runLps(spec, chunks);
      else if (name === "memcpy") runMemcpy(chunks, target);
      else runAllocMemcpy(spec, chunks);
      if (run > 0) times[name].push(performance.now() - t0);
    }
  }
  const ms = {} as Record<DecoderName, number | null>;
  for (const name of DECODERS) {
    ms[name] = usable(name) ? median(times[name]) : null;
  }
  return {
    name: spec.name,
    runtime: runtimeName(),
    wireBytes,
    frames: spec.frames,
    ms,
  };
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
    "| case | prefix | decoder | median ms | frames/s | GB/s | vs it-length-prefixed | vs length-prefixed-stream | vs memcpy | vs alloc+memcpy |",
    "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const r of results) {
    const spec = CASES.find((c) => c.name === r.name) as CaseSpec;
    for (const name of DECODERS) {
      const ms = r.ms[name];
      if (ms === null) continue;
      const seconds = ms / 1000;
      const framesPerSecond = name === "memcpy" ? "—" : fmtRate(r.frames / seconds);
      const others = [
        r.ms["it-length-prefixed"],
        r.ms["length-prefixed-stream"],
        r.ms.memcpy,
        r.ms["alloc+memcpy"],
      ].map((other) => fmtRatio(ms, other)).join(" | ");
      lines.push(
        `| ${spec.label} | ${spec.prefix} | ${name} | ${ms.toFixed(1)} | ${framesPerSecond} | ${
          (r.wireBytes / seconds / 1e9).toFixed(2)
        } | ${others} |`,
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
    const child = spawnSync(process.execPath, args, {
      encoding: "utf8",
      maxBuffer: 1 << 24,
    });
    const line = (child.stdout ?? "").split("\n").find((l) => l.startsWith("RESULT "));
    if (child.status !== 0 || line === undefined) {
      process.stderr.write(child.stdout ?? "");
      process.stderr.write(child.stderr ?? "");
      throw new Error(`Case ${spec.name} failed with status ${child.status}`);
    }
    results.push(JSON.parse(line.slice("RESULT ".length)) as CaseResult);
    process.stderr.write(`done: ${spec.name}\n`);
  }
  console.log(
    `Framing decoders on ${runtimeName()}, median of ${RUNS} runs, one process per case.`,
  );
  console.log(
    "Ratios are this row's throughput over the named decoder's (higher is faster).\n",
  );
  console.log(table(results));
}

const caseName = process.argv.find((arg) => CASES.some((c) => c.name === arg));
if (caseName !== undefined) {
  const result = await runCase(
    CASES.find((c) => c.name === caseName) as CaseSpec,
  );
  console.log(`RESULT ${JSON.stringify(result)}`);
} else {
  main();
}
