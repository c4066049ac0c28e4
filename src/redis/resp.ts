/**
 * RESP2, the Redis serialization protocol: commands encoded as arrays of bulk strings, and an
 * incremental decoder of replies that takes bytes as they come (split anywhere) and checks
 * them strictly, with limits, so that a broken or hostile peer gets a typed error rather than
 * unbounded memory.
 *
 * @module
 */

/**
 * A reply the server sent: a simple string (`+OK`), an integer, a bulk string (bytes, or null
 * for `$-1`), an array (or null for `*-1`), or, inside an array, an error.
 *
 * @example
 * ```ts
 * const reply: RespValue = ["message", new TextEncoder().encode("room:1"), new Uint8Array([104, 105])];
 * ```
 */
export type RespValue = string | number | Uint8Array | null | RedisReplyError | RespValue[];

/**
 * An error reply of the server (`-ERR unknown command`, `-WRONGPASS …`): `code` is its first
 * word.
 *
 * @example
 * ```ts
 * const error = new RedisReplyError("WRONGPASS invalid username-password pair");
 * console.log(error.code); // "WRONGPASS"
 * ```
 */
export class RedisReplyError extends Error {
  /** The error's first word, such as `ERR`, `WRONGTYPE`, `NOAUTH` or `WRONGPASS`. */
  readonly code: string;
  /** Makes the error from the reply's text. */
  constructor(text: string, options?: ErrorOptions) {
    super(`Redis replied with an error: ${text}`, options);
    this.name = "RedisReplyError";
    this.code = /^[A-Z]+/.exec(text)?.[0] ?? "ERR";
  }
}

/**
 * Bytes that cannot be a RESP2 reply, or a reply past the decoder's limits. The connection
 * they came on cannot be trusted after it.
 *
 * @example
 * ```ts
 * const error = new RedisProtocolError("Unknown RESP type byte 0x3f");
 * console.log(error.code); // "RESP_PROTOCOL"
 * ```
 */
export class RedisProtocolError extends Error {
  /** Always `RESP_PROTOCOL`. */
  readonly code = "RESP_PROTOCOL";
  /** Makes the error. */
  constructor(message: string) {
    super(message);
    this.name = "RedisProtocolError";
  }
}

/**
 * Limits of {@linkcode RespDecoder}.
 *
 * @example
 * ```ts
 * const limits: RespLimits = { maxBulkBytes: 1 << 20, maxArrayLength: 10_000, maxDepth: 8 };
 * ```
 */
export interface RespLimits {
  /** The largest bulk string. Default 64 MiB. */
  maxBulkBytes?: number;
  /** The most elements of an array. Default 1,048,576. */
  maxArrayLength?: number;
  /** How deep arrays may nest. Default 16. */
  maxDepth?: number;
  /** The longest simple string, error or integer line. Default 64 KiB. */
  maxLineBytes?: number;
}

const CR = 13;
const LF = 10;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Encodes a command as RESP2: an array of bulk strings. Strings are sent as UTF-8, numbers in
 * decimal, and bytes as they are.
 *
 * @example
 * ```ts
 * const bytes = encodeCommand(["SET", "nick:ada", "node-1", "NX", "PX", 30_000]);
 * ```
 */
export function encodeCommand(args: readonly (string | number | Uint8Array)[]): Uint8Array {
  const parts = args.map((arg) =>
    arg instanceof Uint8Array ? arg : encoder.encode(typeof arg === "number" ? String(arg) : arg)
  );
  const heads = parts.map((part) => encoder.encode(`$${part.byteLength}\r\n`));
  const head = encoder.encode(`*${parts.length}\r\n`);
  let size = head.byteLength;
  for (let i = 0; i < parts.length; i++) size += heads[i].byteLength + parts[i].byteLength + 2;
  const out = new Uint8Array(size);
  out.set(head, 0);
  let at = head.byteLength;
  for (let i = 0; i < parts.length; i++) {
    out.set(heads[i], at);
    at += heads[i].byteLength;
    out.set(parts[i], at);
    at += parts[i].byteLength;
    out[at++] = CR;
    out[at++] = LF;
  }
  return out;
}

/** Not enough bytes yet; `need` is how many the buffer must hold before trying again. */
class Incomplete {
  constructor(readonly need: number) {}
}

/**
 * Decodes replies from bytes that arrive in pieces.
 *
 * @example
 * ```ts
 * const decoder = new RespDecoder();
 * decoder.push(new TextEncoder().encode("+OK\r\n:4"));  // ["OK"]
 * decoder.push(new TextEncoder().encode("2\r\n"));      // [42]
 * ```
 */
export class RespDecoder {
  readonly #maxBulk: number;
  readonly #maxArray: number;
  readonly #maxDepth: number;
  readonly #maxLine: number;
  #buffer: Uint8Array = new Uint8Array(0);
  #start = 0;
  #waiting: Uint8Array[] = [];
  #waitingBytes = 0;
  /** Bytes the buffer must hold before a reply can be whole (0: unknown, try). */
  #need = 0;
  #error: RedisProtocolError | undefined;

  /** Makes a decoder with these limits. */
  constructor(limits: RespLimits = {}) {
    this.#maxBulk = limits.maxBulkBytes ?? 64 * 1024 * 1024;
    this.#maxArray = limits.maxArrayLength ?? 1024 * 1024;
    this.#maxDepth = limits.maxDepth ?? 16;
    this.#maxLine = limits.maxLineBytes ?? 64 * 1024;
  }

  /** Bytes received but not yet part of a whole reply. */
  get buffered(): number {
    return this.#buffer.byteLength - this.#start + this.#waitingBytes;
  }

  /**
   * Adds bytes and returns the replies they complete, in order. Throws a
   * {@linkcode RedisProtocolError} on bytes that cannot be a reply, and again on every later
   * call.
   */
  push(bytes: Uint8Array): RespValue[] {
    if (this.#error) throw this.#error;
    const replies: RespValue[] = [];
    // Until a reply can be whole, pieces are only kept, so that a large bulk string arriving
    // in many reads is copied once, not once per read.
    this.#waiting.push(bytes);
    this.#waitingBytes += bytes.byteLength;
    if (this.buffered < this.#need) return replies;
    this.#append();
    try {
      while (this.#start < this.#buffer.byteLength) {
        const result = this.#parse(this.#start, 0);
        if (result instanceof Incomplete) {
          this.#need = result.need - this.#start;
          break;
        }
        replies.push(result.value);
        this.#start = result.end;
        this.#need = 0;
      }
    } catch (error) {
      this.#error = error as RedisProtocolError;
      throw error;
    }
    if (this.#start === this.#buffer.byteLength) {
      this.#buffer = new Uint8Array(0);
      this.#start = 0;
    }
    return replies;
  }

  #append(): void {
    const rest = this.#buffer.byteLength - this.#start;
    const waiting = this.#waiting;
    if (rest === 0 && waiting.length === 1) {
      this.#buffer = waiting[0];
    } else {
      const joined = new Uint8Array(rest + this.#waitingBytes);
      joined.set(this.#buffer.subarray(this.#start), 0);
      let at = rest;
      for (const piece of waiting) {
        joined.set(piece, at);
        at += piece.byteLength;
      }
      this.#buffer = joined;
    }
    this.#start = 0;
    this.#waiting = [];
    this.#waitingBytes = 0;
  }

  /** The line from `at` to its CRLF, and where the next value starts. */
  #line(at: number): { text: string; end: number } | Incomplete {
    const buffer = this.#buffer;
    const limit = Math.min(buffer.byteLength, at + this.#maxLine + 2);
    for (let i = at; i < limit; i++) {
      if (buffer[i] === LF) throw new RedisProtocolError("A RESP line ends in a bare LF; it must end in CRLF");
      if (buffer[i] !== CR) continue;
      if (i + 1 >= buffer.byteLength) return new Incomplete(i + 2);
      if (buffer[i + 1] !== LF) throw new RedisProtocolError("A CR inside a RESP line is not followed by LF");
      return { text: decoder.decode(buffer.subarray(at, i)), end: i + 2 };
    }
    if (limit - at >= this.#maxLine + 2) {
      throw new RedisProtocolError(`A RESP line is longer than the limit of ${this.#maxLine} bytes`);
    }
    return new Incomplete(buffer.byteLength + 1);
  }

  #integer(text: string, what: string): number {
    if (!/^-?(0|[1-9][0-9]*)$/.test(text)) {
      throw new RedisProtocolError(`A RESP ${what} must be a decimal integer, got ${JSON.stringify(text)}`);
    }
    const value = Number(text);
    if (!Number.isSafeInteger(value)) {
      throw new RedisProtocolError(`A RESP ${what} of ${text} is beyond 2^53 - 1`);
    }
    return value;
  }

  #parse(at: number, depth: number): { value: RespValue; end: number } | Incomplete {
    const buffer = this.#buffer;
    if (at >= buffer.byteLength) return new Incomplete(at + 1);
    const type = buffer[at];
    const line = this.#line(at + 1);
    if (line instanceof Incomplete) return line;
    switch (type) {
      case 0x2b: // +
        return { value: line.text, end: line.end };
      case 0x2d: // -
        return { value: new RedisReplyError(line.text), end: line.end };
      case 0x3a: // :
        return { value: this.#integer(line.text, "integer"), end: line.end };
      case 0x24: { // $
        const length = this.#integer(line.text, "bulk string length");
        if (length === -1) return { value: null, end: line.end };
        if (length < 0) throw new RedisProtocolError(`A RESP bulk string length must be -1 or more, got ${length}`);
        if (length > this.#maxBulk) {
          throw new RedisProtocolError(
            `A RESP bulk string of ${length} bytes is larger than the limit of ${this.#maxBulk}`,
          );
        }
        const end = line.end + length;
        if (buffer.byteLength < end + 2) return new Incomplete(end + 2);
        if (buffer[end] !== CR || buffer[end + 1] !== LF) {
          throw new RedisProtocolError(`A RESP bulk string of ${length} bytes is not followed by CRLF`);
        }
        return { value: buffer.slice(line.end, end), end: end + 2 };
      }
      case 0x2a: { // *
        const count = this.#integer(line.text, "array length");
        if (count === -1) return { value: null, end: line.end };
        if (count < 0) throw new RedisProtocolError(`A RESP array length must be -1 or more, got ${count}`);
        if (count > this.#maxArray) {
          throw new RedisProtocolError(
            `A RESP array of ${count} elements is longer than the limit of ${this.#maxArray}`,
          );
        }
        if (depth + 1 > this.#maxDepth) {
          throw new RedisProtocolError(`RESP arrays nest deeper than the limit of ${this.#maxDepth}`);
        }
        const items: RespValue[] = [];
        let next = line.end;
        for (let i = 0; i < count; i++) {
          const item = this.#parse(next, depth + 1);
          if (item instanceof Incomplete) return item;
          items.push(item.value);
          next = item.end;
        }
        return { value: items, end: next };
      }
      default:
        throw new RedisProtocolError(
          `Unknown RESP type byte 0x${type.toString(16).padStart(2, "0")}; a reply starts with + - : $ or *`,
        );
    }
  }
}

/**
 * A reply as text: bulk strings decoded as UTF-8, other values as they are. Throws a
 * `TypeError` naming what it got when the reply is not text.
 *
 * @example
 * ```ts
 * replyText(new TextEncoder().encode("node-1")); // "node-1"
 * ```
 */
export function replyText(reply: RespValue): string {
  if (typeof reply === "string") return reply;
  if (reply instanceof Uint8Array) return decoder.decode(reply);
  throw new TypeError(`Expected a text reply, got ${describeReply(reply)}`);
}

/**
 * A short description of a reply, for error messages.
 *
 * @example
 * ```ts
 * describeReply([1, 2]); // "an array of 2"
 * ```
 */
export function describeReply(reply: RespValue): string {
  if (reply === null) return "null";
  if (Array.isArray(reply)) return `an array of ${reply.length}`;
  if (reply instanceof Uint8Array) return `a bulk string of ${reply.byteLength} bytes`;
  if (reply instanceof RedisReplyError) return `the error ${JSON.stringify(reply.message)}`;
  return `${typeof reply} ${JSON.stringify(reply)}`;
}
