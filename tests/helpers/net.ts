/** Small helpers for the transport tests. */
import assert from "node:assert/strict";
import { NetError } from "../../src/runtime/errors.ts";
import type { Stream, StreamHandlers } from "../../src/runtime/types.ts";

/** Rejects with a clear message if `promise` takes longer than `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` (which may be async) until it holds, or fails naming `what` after `ms`. */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  ms = 15_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Random bytes of any size. */
export function randomBytes(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) {
    crypto.getRandomValues(out.subarray(i, Math.min(size, i + 65536)));
  }
  return out;
}

/** A hex SHA-256 of the concatenation of chunks. */
export async function sha256(chunks: Uint8Array[] | Uint8Array): Promise<string> {
  const all = Array.isArray(chunks) ? concat(chunks) : chunks;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Concatenates chunks. */
export function concat(chunks: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const c of chunks) total += c.byteLength;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

/** Everything observed on one stream. */
export interface Observed {
  chunks: Uint8Array[];
  bytes: number;
  closeCount: number;
  endCount: number;
  drainCount: number;
  error: NetError | undefined;
  ended: Promise<void>;
  closed: Promise<NetError | undefined>;
}

/** Sets handlers that record everything; `extra` handlers run after recording. */
export function observe(stream: Stream, extra: StreamHandlers = {}): Observed {
  let onEnded!: () => void;
  let onClosed!: (e: NetError | undefined) => void;
  const o: Observed = {
    chunks: [],
    bytes: 0,
    closeCount: 0,
    endCount: 0,
    drainCount: 0,
    error: undefined,
    ended: new Promise<void>((r) => (onEnded = r)),
    closed: new Promise<NetError | undefined>((r) => (onClosed = r)),
  };
  stream.setHandlers({
    onData(chunk) {
      o.chunks.push(chunk);
      o.bytes += chunk.byteLength;
      extra.onData?.(chunk);
    },
    onDrain() {
      o.drainCount++;
      extra.onDrain?.();
    },
    onEnd() {
      o.endCount++;
      onEnded();
      extra.onEnd?.();
    },
    onClose(error) {
      o.closeCount++;
      o.error = error;
      onClosed(error);
      extra.onClose?.(error);
    },
  });
  return o;
}

/** Writes `bytes` in pieces of `piece` bytes. */
export function writeInPieces(stream: Stream, bytes: Uint8Array, piece: number): void {
  for (let i = 0; i < bytes.byteLength; i += piece) {
    stream.write(bytes.subarray(i, Math.min(bytes.byteLength, i + piece)));
  }
}

/** Awaits `promise` and asserts that it rejects with a NetError of `code`, which it returns. */
export async function expectNetError(promise: Promise<unknown>, code: string): Promise<NetError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof NetError, `expected a NetError, got ${String(error)}`);
    assert.equal(error.code, code, `expected ${code}, got ${error.code}: ${error.message}`);
    return error;
  }
  assert.fail(`expected ${code}, but the operation succeeded`);
}
