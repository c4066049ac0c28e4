/**
 * The hostile clients of `scripts/bench/attack.ts`: plain node:net sockets, so they run under
 * whichever runtime runs the script, each with a deadline on everything it waits for, and a
 * set per attack that tears every one of them down at the end, whatever happened.
 *
 * @module
 */

import net from "node:net";
import { Buffer } from "node:buffer";

/** Where every server of the attacks listens. */
export const HOST = "127.0.0.1";

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function errorCode(error: unknown): string {
  const e = error as { code?: string; message?: string };
  return e?.code ?? e?.message ?? String(error);
}

/** Every socket an attack opened, so that none outlives it. */
export class SocketSet {
  readonly #sockets = new Set<net.Socket>();

  /** Tracks `socket` until it closes. */
  add(socket: net.Socket): net.Socket {
    this.#sockets.add(socket);
    socket.once("close", () => this.#sockets.delete(socket));
    return socket;
  }

  /** How many tracked sockets are not closed yet. */
  get size(): number {
    return this.#sockets.size;
  }

  /** Closes every socket: with a reset (SO_LINGER 0) or a plain close. */
  destroyAll(reset = false): void {
    for (const socket of this.#sockets) {
      try {
        if (reset && !socket.connecting && !socket.destroyed) socket.resetAndDestroy();
        else socket.destroy();
      } catch {
        socket.destroy();
      }
    }
    this.#sockets.clear();
  }
}

/** Opens a socket to 127.0.0.1:`port`, destroyed if it has not connected in `timeoutMs`. */
export function connectSocket(port: number, set: SocketSet, timeoutMs = 5000): net.Socket {
  const socket = set.add(net.connect({ host: HOST, port }));
  socket.on("error", () => {});
  const timer = setTimeout(() => {
    if (socket.connecting) socket.destroy(new Error("connect timeout"));
  }, timeoutMs);
  socket.once("connect", () => clearTimeout(timer));
  socket.once("close", () => clearTimeout(timer));
  return socket;
}

/**
 * Options of {@linkcode LineClient}.
 */
export interface LineClientOptions {
  /** Keep every complete line received (up to 20,000), for the clients whose replies are checked. */
  keepLines?: boolean;
  /** Called with every complete line; setting it parses every line. */
  onLine?: (line: string) => void;
  /** Called with every chunk read, before any parsing. */
  onChunk?: (chunk: Buffer) => void;
  /** Never read: the socket's receive buffer fills and stays full. */
  noRead?: boolean;
  /** How long connecting may take. Default 5,000 ms. */
  connectTimeoutMs?: number;
}

const MAX_KEPT_LINES = 20_000;
const MAX_PARTIAL = 1024 * 1024;

/**
 * A client of a line protocol (the chat). Unless asked to keep or see every line, it parses
 * only the first one (the welcome) and then just counts bytes, so that thousands of them cost
 * little.
 */
export class LineClient {
  readonly socket: net.Socket;
  readonly startedAt: number = performance.now();
  connected = false;
  /** Milliseconds from the start to the welcome line; 0 while there is none. */
  welcomeMs = 0;
  firstLine: string | undefined;
  readonly lines: string[] = [];
  linesIn = 0;
  bytesIn = 0;
  /** The longest line received, in bytes (only when every line is parsed). */
  longestLine = 0;
  closed = false;
  /** Milliseconds from the start to the close. */
  closedMs = 0;
  /** `end` (the server closed), an error code such as `ECONNRESET`, or `closed`. */
  closeReason = "";
  readonly #parseAll: boolean;
  readonly #options: LineClientOptions;
  #partial: Buffer[] = [];
  #partialLength = 0;
  readonly #waiters = new Set<() => void>();

  constructor(port: number, set: SocketSet, options: LineClientOptions = {}) {
    this.#options = options;
    this.#parseAll = options.keepLines === true || options.onLine !== undefined;
    const socket = this.socket = connectSocket(port, set, options.connectTimeoutMs ?? 5000);
    socket.once("connect", () => {
      this.connected = true;
      this.#notify();
    });
    socket.on("error", (error) => {
      this.closeReason ||= errorCode(error);
    });
    socket.on("end", () => {
      this.closeReason ||= "end";
    });
    socket.once("close", () => {
      this.closed = true;
      this.closedMs = performance.now() - this.startedAt;
      this.closeReason ||= "closed";
      this.#notify();
    });
    if (options.noRead !== true) socket.on("data", (chunk: Buffer) => this.#onData(chunk));
  }

  #onData(chunk: Buffer): void {
    this.bytesIn += chunk.byteLength;
    this.#options.onChunk?.(chunk);
    if (!this.#parseAll && this.firstLine !== undefined) return;
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0) break;
      const piece = chunk.subarray(start, nl);
      const length = this.#partialLength + piece.byteLength;
      if (length > this.longestLine) this.longestLine = length;
      const bytes = this.#partialLength > 0 ? Buffer.concat([...this.#partial, piece]) : piece;
      this.#partial = [];
      this.#partialLength = 0;
      this.#onLine(bytes.toString("utf8"));
      start = nl + 1;
      if (!this.#parseAll) break;
    }
    if (start < chunk.byteLength && (this.#parseAll || this.firstLine === undefined)) {
      if (this.#partialLength < MAX_PARTIAL) this.#partial.push(chunk.subarray(start));
      this.#partialLength += chunk.byteLength - start;
    }
    this.#notify();
  }

  #onLine(line: string): void {
    if (this.firstLine === undefined) {
      this.firstLine = line;
      if (line.includes("Welcome")) this.welcomeMs = Math.max(0.001, performance.now() - this.startedAt);
    }
    this.linesIn++;
    if (this.#options.keepLines && this.lines.length < MAX_KEPT_LINES) this.lines.push(line);
    this.#options.onLine?.(line);
  }

  #notify(): void {
    for (const check of [...this.#waiters]) check();
  }

  /** Resolves true once `test` holds, false if the client closes or `timeoutMs` passes first. */
  until(test: (client: LineClient) => boolean, timeoutMs: number): Promise<boolean> {
    if (test(this)) return Promise.resolve(true);
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(ok);
      };
      const check = () => {
        if (test(this)) finish(true);
        else if (this.closed) finish(false);
      };
      const timer = setTimeout(() => finish(test(this)), timeoutMs);
      this.#waiters.add(check);
    });
  }

  /** Waits for the welcome line. */
  welcome(timeoutMs: number): Promise<boolean> {
    return this.until((c) => c.welcomeMs > 0, timeoutMs);
  }

  /** Writes, unless closed; returns false when the socket's buffer is full (or it is closed). */
  write(data: string | Uint8Array): boolean {
    if (this.closed || this.socket.destroyed) return false;
    try {
      return this.socket.write(data);
    } catch {
      return false;
    }
  }

  /** Aborts the connection with a reset. */
  reset(): void {
    try {
      if (!this.socket.destroyed) this.socket.resetAndDestroy();
    } catch {
      this.socket.destroy();
    }
  }
}

/** A frame with a 4-byte big-endian length. */
export function lp4Frame(payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(4 + payload.byteLength);
  frame.writeUInt32BE(payload.byteLength, 0);
  frame.set(payload, 4);
  return frame;
}

/** Splits a byte stream into 4-byte-length frames. */
export class Lp4Reader {
  #buffer: Buffer = Buffer.alloc(0);
  constructor(readonly onFrame: (payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    let buffer = this.#buffer.byteLength > 0 ? Buffer.concat([this.#buffer, chunk]) : chunk;
    while (buffer.byteLength >= 4) {
      const length = buffer.readUInt32BE(0);
      if (buffer.byteLength < 4 + length) break;
      this.onFrame(buffer.subarray(4, 4 + length));
      buffer = buffer.subarray(4 + length);
    }
    this.#buffer = buffer.byteLength > 0 ? Buffer.from(buffer) : Buffer.alloc(0);
  }
}

/**
 * A fresh chat client's wait for its welcome line: milliseconds, or why it got none
 * (`timeout`, `refused: …` with the first line it got instead, an error code).
 */
export async function probeChat(port: number, timeoutMs = 5000): Promise<number | string> {
  const set = new SocketSet();
  const client = new LineClient(port, set, { connectTimeoutMs: timeoutMs });
  try {
    if (await client.welcome(timeoutMs)) return client.welcomeMs;
    if (client.firstLine !== undefined) return `got ${JSON.stringify(client.firstLine.slice(0, 40))}`;
    if (client.closed) return client.closeReason || "closed";
    return "timeout";
  } finally {
    set.destroyAll();
  }
}

/** A fresh lp4 echo client's round trip (connect, one frame, its echo): milliseconds, or why not. */
export function probeEcho(port: number, timeoutMs = 5000): Promise<number | string> {
  return new Promise((resolve) => {
    const set = new SocketSet();
    const started = performance.now();
    const payload = Buffer.from(`probe ${Math.random()}`);
    let reason = "";
    const finish = (result: number | string) => {
      clearTimeout(timer);
      set.destroyAll();
      resolve(result);
    };
    const timer = setTimeout(() => finish(reason || "timeout"), timeoutMs);
    const socket = connectSocket(port, set, timeoutMs);
    const reader = new Lp4Reader((frame) => {
      finish(frame.equals(payload) ? performance.now() - started : "wrong echo");
    });
    socket.on("error", (error) => (reason ||= errorCode(error)));
    socket.once("connect", () => socket.write(lp4Frame(payload)));
    socket.on("data", (chunk: Buffer) => reader.push(chunk));
    socket.once("close", () => finish(reason || "closed"));
  });
}

/**
 * Whether `resetAndDestroy()` sends a reset under the runtime running this script: a local
 * node:net server must see ECONNRESET, not an orderly end.
 */
export function resetSendsRst(timeoutMs = 3000): Promise<boolean> {
  return new Promise((resolve) => {
    const sockets = new SocketSet();
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sockets.destroyAll();
      server.close();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    const server = net.createServer((peer) => {
      sockets.add(peer);
      peer.on("error", (error) => finish(errorCode(error) === "ECONNRESET"));
      peer.on("end", () => finish(false));
      peer.on("data", () => {});
      peer.write("x");
    });
    server.on("error", () => finish(false));
    server.listen(0, HOST, () => {
      const port = (server.address() as net.AddressInfo).port;
      const client = connectSocket(port, sockets, timeoutMs);
      client.once("data", () => client.resetAndDestroy());
    });
  });
}
