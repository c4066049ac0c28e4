/**
 * The contract between a host and an application. A host is a server on one of the I/O
 * models: it frames what each client sends and hands the frames to an application, which may
 * send frames to any client. Echo, chat and omok (src/apps) are applications; each model has
 * one host (src/hosts/<model>.ts), and `startHost` in src/hosts/mod.ts starts one by name.
 *
 * @module
 */

import type { FrameCodec } from "../framing/types.ts";
import type { Addr, Transport } from "../runtime/types.ts";

/**
 * One connected client, as the application sees it.
 *
 * @example
 * ```ts
 * const greet = (peer: Peer) => peer.send(new TextEncoder().encode(`hello #${peer.id}`));
 * ```
 */
export interface Peer {
  /** A process-unique id. */
  readonly id: number;
  /** The client's address. */
  readonly remoteAddr: Addr | undefined;
  /** Free for the application's state about this client. */
  data: unknown;
  /**
   * Encodes `frame` with the host's codec and queues it. Nothing is dropped: what the socket
   * cannot take yet waits in the host, and counts in {@linkcode Peer.unsentBytes}. Ignored
   * once the peer is closing.
   */
  send(frame: Uint8Array): void;
  /** Bytes queued for this client and not yet taken by the OS. */
  readonly unsentBytes: number;
  /** True once `close` or `reset` was called, or the client went away. */
  readonly closing: boolean;
  /** Stops reading, sends what is queued, then closes. */
  close(): void;
  /** Aborts the connection at once; what is queued is dropped. */
  reset(): void;
  /**
   * Stops reading this client's socket until `resume`: frames already read still arrive, then
   * no more, and TCP slows the client down. For a client whose frames cost more to pass on than
   * the others can take.
   */
  pause(): void;
  /** Reads this client's socket again after `pause`. */
  resume(): void;
}

/**
 * An application on a peer host. Every callback runs on the host's own loop, one at a time.
 *
 * @example
 * ```ts
 * const broadcast: PeerApp = {
 *   peers: new Set<Peer>(),
 *   onOpen(peer) { this.peers.add(peer); },
 *   onFrame(_from, frame) { for (const p of this.peers) p.send(frame); },
 *   onClose(peer) { this.peers.delete(peer); },
 * } as PeerApp & { peers: Set<Peer> };
 * ```
 */
export interface PeerApp {
  /** A client connected. */
  onOpen?(peer: Peer): void;
  /** A client sent a frame. The frame is the application's to keep. */
  onFrame(peer: Peer, frame: Uint8Array): void;
  /**
   * A client sent bytes the codec rejects (a line too long, a bad length). The peer still
   * takes frames; the host closes it gracefully right after this returns.
   */
  onFrameError?(peer: Peer, error: Error): void;
  /** A client is gone; called once per opened peer, with the error if it failed. */
  onClose?(peer: Peer, error?: Error): void;
  /**
   * A client sent no complete frame for the host's `idleTimeoutMs`. The host closes it right
   * after this returns (what the application sends here still goes out first).
   */
  onIdle?(peer: Peer, idleMs: number): void;
}

/**
 * What a server lets its clients hold: how many may be connected, and for how long one may
 * stay silent.
 *
 * @example
 * ```ts
 * const limits: ClientLimits = { maxConnections: 10_000, idleTimeoutMs: 5 * 60_000 };
 * ```
 */
export interface ClientLimits {
  /** Clients connected at once; further ones are reset as they connect. Default unlimited. */
  maxConnections?: number;
  /**
   * A client that sent no complete frame for this long is closed, after `app.onIdle`. A
   * client that sends a byte now and then but never a whole frame counts as idle. Default
   * never.
   */
  idleTimeoutMs?: number;
  /** Told of every connection refused because `maxConnections` clients were connected. */
  onRefused?(open: number): void;
}

/**
 * Options of every peer host.
 *
 * @example
 * ```ts
 * import { delimited } from "sockmodels/framing";
 * const options: PeerHostOptions = { port: 0, codec: delimited(), app: { onFrame() {} } };
 * ```
 */
export interface PeerHostOptions extends ClientLimits {
  /** The transport. Default: the runtime's own. */
  transport?: Transport;
  /** The address to bind. Default 127.0.0.1. */
  hostname?: string;
  /** The port; 0 (the default) picks an ephemeral one. */
  port?: number;
  /** How frames are cut from the byte stream and written back. */
  codec: FrameCodec;
  /**
   * While more than this many bytes wait to be sent to a client, the host reads nothing more
   * from it (TCP then slows the client down); reading goes on once its queue has drained. This
   * keeps a client that sends but does not read from growing the server's memory. Default
   * 1 MiB; `Infinity` leaves slow clients to the application (chat and omok decide themselves).
   */
  highWaterMark?: number;
  /** The application. */
  app: PeerApp;
}

/**
 * A running peer host.
 *
 * @example
 * ```ts
 * import type { FrameCodec } from "sockmodels/framing";
 * import { startHost } from "sockmodels/hosts";
 * import type { PeerApp } from "sockmodels/hosts";
 * declare const codec: FrameCodec;
 * declare const app: PeerApp;
 * const host: PeerHost = await startHost("select", { port: 0, codec, app });
 * console.log(host.addr.port);
 * await host.close();
 * ```
 */
export interface PeerHost {
  /** The bound address. */
  readonly addr: Addr;
  /** Stops accepting, closes every client (each gets `onClose`), and resolves when done. */
  close(): Promise<void>;
}
