/**
 * An echo server on the WSAAsyncSelect model in MFC's `CAsyncSocket` shape (seed 000): a
 * listening socket whose `onAccept` accepts into a client socket, client sockets whose
 * `onReceive` receives until WSAEWOULDBLOCK and sends the echo, and whose `onSend` sends the
 * tail a partial send left. Every callback runs on one message loop, one message at a time.
 *
 *   sockmodels serve echo --model async-select --port 9000 --framing lp4
 *
 * @module
 */
import { AsyncSocket, type AsyncSocketOptions, MessageLoop } from "../models/async_select.ts";
import { WOULD_BLOCK } from "../models/nonblocking.ts";
import { defaultTransport } from "../runtime/detect.ts";
import type { FrameCodec, FrameDecoder } from "../framing/mod.ts";
import { echoCodec, type EchoServer, type EchoServerOptions, framedParts } from "./echo_framing.ts";
import { PendingCloses } from "./pending_closes.ts";

const BUFSIZE = 64 * 1024;
/** Stop receiving from a client while this much echo is still unsent (a slow reader). */
const MAX_BACKLOG = 1024 * 1024;

/** The listening socket. */
class EchoListenSocket extends AsyncSocket {
  readonly clients: Set<EchoClientSocket> = new Set();
  readonly closing: PendingCloses = new PendingCloses();
  readonly codec: FrameCodec | undefined;
  readonly buf: Uint8Array = new Uint8Array(BUFSIZE);

  constructor(loop: MessageLoop, codec: FrameCodec | undefined, options: AsyncSocketOptions) {
    super(loop, options);
    this.codec = codec;
  }

  override onAccept(errorCode: number): void {
    if (errorCode !== 0) return;
    const client = this.accept(new EchoClientSocket(this.loop, this));
    if (client) this.clients.add(client);
  }

  /** Closes a client and remembers the close, so that shutting down can wait for it. */
  release(client: EchoClientSocket): void {
    this.clients.delete(client);
    this.closing.close(client);
  }
}

/** One connected client. */
class EchoClientSocket extends AsyncSocket {
  #server: EchoListenSocket;
  #decoder: FrameDecoder | undefined;
  #out: Uint8Array[] = [];
  #outHead = 0;
  #outBytes = 0;
  #receiveStopped = false;
  #peerClosed = false;

  constructor(loop: MessageLoop, server: EchoListenSocket) {
    super(loop);
    this.#server = server;
    this.#decoder = server.codec?.decoder();
  }

  override onReceive(errorCode: number): void {
    if (errorCode !== 0) return this.#server.release(this);
    this.#receiveAll();
  }

  override onSend(errorCode: number): void {
    if (errorCode !== 0) return this.#server.release(this);
    this.#sendPending();
  }

  override onClose(errorCode: number): void {
    // errorCode 10054 (WSAECONNRESET): the peer aborted; nothing more can be sent.
    if (errorCode !== 0) return this.#server.release(this);
    this.#peerClosed = true;
    try {
      this.#decoder?.end();
    } catch {
      // A truncated last frame: echo what was whole, then close.
    }
    if (this.#outBytes === 0) this.#server.release(this);
  }

  // Receive until WSAEWOULDBLOCK, echoing as we go; stop while the backlog is large.
  #receiveAll(): void {
    const buf = this.#server.buf;
    try {
      while (!this.isClosed) {
        if (this.#outBytes >= MAX_BACKLOG) {
          this.#receiveStopped = true;
          return;
        }
        const n = this.receive(buf);
        if (n === WOULD_BLOCK || n === 0) return; // 0: onClose follows
        const data = buf.slice(0, n);
        if (this.#decoder) {
          for (const frame of this.#decoder.push(data)) {
            for (const part of framedParts(this.#server.codec!, frame)) this.#queue(part);
          }
        } else {
          this.#queue(data);
        }
        this.#sendPending();
      }
    } catch {
      // A reset, or a frame over the size cap.
      this.#server.release(this);
    }
  }

  #queue(bytes: Uint8Array): void {
    this.#out.push(bytes);
    this.#outBytes += bytes.byteLength;
  }

  // Send until WSAEWOULDBLOCK; the next onSend sends the rest.
  #sendPending(): void {
    if (this.isClosed) return;
    try {
      while (this.#outHead < this.#out.length) {
        const head = this.#out[this.#outHead];
        const sent = this.send(head);
        if (sent === WOULD_BLOCK) break;
        this.#outBytes -= sent;
        if (sent < head.byteLength) {
          this.#out[this.#outHead] = head.subarray(sent);
          break;
        }
        this.#outHead++;
      }
    } catch {
      this.#server.release(this);
      return;
    }
    if (this.#outHead === this.#out.length) {
      this.#out.length = 0;
      this.#outHead = 0;
    }
    if (this.#receiveStopped && this.#outBytes < MAX_BACKLOG) {
      this.#receiveStopped = false;
      this.#receiveAll();
    } else if (this.#peerClosed && this.#outBytes === 0) {
      this.#server.release(this);
    }
  }
}

/**
 * Starts the WSAAsyncSelect echo server.
 *
 * @example
 * ```ts
 * const server = await startAsyncSelectEcho({ port: 0, framing: "lp4" });
 * console.log(`listening on ${server.addr.port}`);
 * await server.close();
 * ```
 */
export async function startAsyncSelectEcho(options: EchoServerOptions = {}): Promise<EchoServer> {
  const transport = options.transport ?? await defaultTransport();
  const loop = new MessageLoop({
    // A handler that failed unexpectedly costs its client only.
    onError: (_error, message) => {
      if (message.target instanceof EchoClientSocket) void message.target.close();
    },
  });
  const codec = echoCodec(options.framing);
  const listenSocket = new EchoListenSocket(loop, codec, { transport });
  await listenSocket.listen({ hostname: options.hostname ?? "127.0.0.1", port: options.port ?? 0 });
  const running = loop.run();
  let closed = false;
  return {
    addr: listenSocket.addr!,
    async close() {
      if (closed) return;
      closed = true;
      await listenSocket.close();
      for (const client of [...listenSocket.clients]) listenSocket.release(client);
      await listenSocket.closing.settled();
      loop.stop();
      await running;
    },
  };
}
