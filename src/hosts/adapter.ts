/**
 * The host on the bare runtime adapter: a stream's callbacks, with no model between the
 * adapter and the application. It is the baseline the models are measured against. Reading
 * stops while more than `highWaterMark` bytes wait to be sent to a client, and resumes once the
 * stream drains.
 *
 * @module
 */

import type { FrameCodec, FrameDecoder } from "../framing/types.ts";
import { writeFrame } from "../framing/write_frame.ts";
import { defaultTransport } from "../runtime/detect.ts";
import type { Addr, Stream } from "../runtime/types.ts";
import { closePeers } from "./_close_peers.ts";
import { DEFAULT_HIGH_WATER_MARK, deliverBytes, deliverEnd } from "./_socket_peer.ts";
import type { Peer, PeerApp, PeerHost, PeerHostOptions } from "./types.ts";

let lastPeerId = 0;

/** A client of the adapter host: a stream, its decoder and its read hold. */
class StreamPeer implements Peer {
  readonly id: number = ++lastPeerId;
  readonly remoteAddr: Addr;
  data: unknown = undefined;
  readonly #stream: Stream;
  readonly #codec: FrameCodec;
  readonly #decoder: FrameDecoder;
  readonly #app: PeerApp;
  readonly #highWaterMark: number;
  #closing = false;
  #pausedByApp = false;
  #heldForOutput = false;

  constructor(stream: Stream, codec: FrameCodec, app: PeerApp, highWaterMark: number) {
    this.#stream = stream;
    this.remoteAddr = stream.remoteAddr;
    this.#codec = codec;
    this.#decoder = codec.decoder();
    this.#app = app;
    this.#highWaterMark = highWaterMark;
  }

  get closing(): boolean {
    return this.#closing || this.#stream.closed;
  }

  get unsentBytes(): number {
    return this.#stream.bufferedAmount;
  }

  send(frame: Uint8Array): void {
    if (this.closing) return;
    writeFrame(this.#stream, this.#codec, frame);
    if (!this.#heldForOutput && this.#stream.bufferedAmount > this.#highWaterMark) {
      this.#heldForOutput = true;
      this.#stream.pause();
    }
  }

  close(): void {
    if (this.closing) return;
    this.#closing = true;
    void this.#stream.close();
  }

  reset(): void {
    this.#closing = true;
    this.#stream.reset();
  }

  pause(): void {
    this.#pausedByApp = true;
    this.#stream.pause();
  }

  resume(): void {
    this.#pausedByApp = false;
    if (!this.#heldForOutput) this.#stream.resume();
  }

  /** The stream drained below its own mark. */
  drained(): void {
    if (!this.#heldForOutput || this.#stream.bufferedAmount > this.#highWaterMark) return;
    this.#heldForOutput = false;
    if (!this.#pausedByApp) this.#stream.resume();
  }

  /** Bytes arrived: the frames they complete go to the application, until the peer is closing. */
  receive(chunk: Uint8Array): void {
    deliverBytes(this, this.#decoder, this.#app, chunk);
  }

  /** The client sent FIN: a trailing partial frame is dropped, and the peer closes. */
  receiveEnd(): void {
    deliverEnd(this, this.#decoder);
  }
}

/**
 * Starts a host on the bare runtime adapter.
 *
 * @example
 * ```ts
 * import { delimited } from "sockmodels/framing";
 * import { startAdapterHost } from "sockmodels/hosts";
 * const host = await startAdapterHost({ port: 0, codec: delimited(), app: { onFrame: (p, f) => p.send(f) } });
 * await host.close();
 * ```
 */
export async function startAdapterHost(options: PeerHostOptions): Promise<PeerHost> {
  const { app, codec } = options;
  const highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
  const transport = options.transport ?? await defaultTransport();
  const open = new Set<StreamPeer>();
  let accepting = true;
  const listener = await transport.listen({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
    onAccept(stream) {
      if (!accepting) return stream.reset();
      const peer = new StreamPeer(stream, codec, app, highWaterMark);
      open.add(peer);
      stream.setHandlers({
        onData: (chunk) => peer.receive(chunk),
        onEnd: () => peer.receiveEnd(),
        onDrain: () => peer.drained(),
        onClose(error) {
          open.delete(peer);
          app.onClose?.(peer, error);
        },
      });
      app.onOpen?.(peer);
    },
  });
  return {
    addr: listener.addr,
    async close() {
      if (!accepting) return;
      accepting = false;
      await listener.close();
      await closePeers(() => [...open]);
    },
  };
}
