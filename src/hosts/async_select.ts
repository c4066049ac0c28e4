/**
 * The peer host on WSAAsyncSelect, in MFC's `CAsyncSocket` shape (seed 000): a listening
 * socket whose `onAccept` accepts into a client socket; client sockets whose `onReceive`
 * receives until WSAEWOULDBLOCK, whose `onSend` sends what a partial send left, and whose
 * `onClose` ends them. Every callback runs on one message loop, one message at a time.
 *
 * @module
 */

import { AsyncSocket, type AsyncSocketOptions, MessageLoop } from "../models/async_select.ts";
import { type NonBlockingSocket, WOULD_BLOCK } from "../models/nonblocking.ts";
import { defaultTransport } from "../runtime/detect.ts";
import { closePeers } from "./_close_peers.ts";
import type { PeerApp, PeerHost, PeerHostOptions } from "./types.ts";
import type { FrameCodec } from "../framing/types.ts";
import { ReceiveSlab } from "./_receive_slab.ts";
import { DEFAULT_HIGH_WATER_MARK, SocketPeer, type SocketPeerIo, SocketPeerSetup } from "./_socket_peer.ts";
import { PendingCloses } from "./_pending_closes.ts";

/** The listening socket; it owns the clients. */
class HostListenSocket extends AsyncSocket {
  readonly clients: Set<HostClientSocket> = new Set();
  readonly closing: PendingCloses = new PendingCloses();
  readonly slab: ReceiveSlab = new ReceiveSlab();
  readonly app: PeerApp;
  /** What every client's peer shares. */
  readonly peerSetup: SocketPeerSetup<HostClientSocket>;

  constructor(loop: MessageLoop, codec: FrameCodec, app: PeerApp, highWaterMark: number, options: AsyncSocketOptions) {
    super(loop, options);
    this.app = app;
    this.peerSetup = new SocketPeerSetup(clientIo, codec, app, highWaterMark);
  }

  override onAccept(errorCode: number): void {
    if (errorCode !== 0 || this.isClosed) return;
    const client = this.accept(new HostClientSocket(this.loop, this));
    if (!client) return;
    this.clients.add(client);
    client.peer.remoteAddr = client.remoteAddr;
    this.app.onOpen?.(client.peer);
  }

  /** Closes a client, gracefully or at once, and remembers the close for shutting down. */
  release(client: HostClientSocket, abort: boolean): void {
    this.clients.delete(client);
    if (abort) (client.socket as NonBlockingSocket | undefined)?.reset();
    this.closing.close(client);
  }
}

/** What every client's peer does to its socket. */
const clientIo: SocketPeerIo<HostClientSocket> = {
  trySend: (client, bytes) => client.send(bytes),
  socketQueued: (client) => (client.socket as NonBlockingSocket | undefined)?.core.sendQueued ?? 0,
  finish: (peer, abort) => peer.handle.server.release(peer.handle, abort),
  resetSocket: (client) => (client.socket as NonBlockingSocket | undefined)?.reset(),
  holdReading: (client, hold) => (client.socket as NonBlockingSocket | undefined)?.core.holdReading(hold),
};

/** One connected client. */
class HostClientSocket extends AsyncSocket {
  readonly peer: SocketPeer<HostClientSocket>;
  readonly server: HostListenSocket;

  constructor(loop: MessageLoop, server: HostListenSocket) {
    super(loop);
    this.server = server;
    this.peer = new SocketPeer(this, undefined, server.peerSetup);
  }

  override onReceive(errorCode: number): void {
    if (errorCode !== 0) return this.peer.fail((this.socket as NonBlockingSocket | undefined)?.core.error);
    const slab = this.server.slab;
    try {
      // Receive until WSAEWOULDBLOCK; 0 means onClose follows.
      while (!this.peer.closing) {
        const n = this.receive(slab.space);
        if (n === WOULD_BLOCK || n === 0) return;
        this.peer.receive(slab.take(n));
      }
    } catch (error) {
      this.peer.fail(error as Error);
    }
  }

  override onSend(errorCode: number): void {
    if (errorCode !== 0) return this.peer.fail((this.socket as NonBlockingSocket | undefined)?.core.error);
    this.peer.flush();
  }

  override onClose(errorCode: number): void {
    // errorCode 10054 (WSAECONNRESET): the peer aborted; nothing more can be sent.
    if (errorCode !== 0) return this.peer.fail((this.socket as NonBlockingSocket | undefined)?.core.error);
    this.peer.receiveEnd();
  }
}

/**
 * Starts a peer host on WSAAsyncSelect.
 *
 * @example
 * ```ts
 * import { delimited } from "sockmodels/framing";
 * const host = await startAsyncSelectHost({ port: 0, codec: delimited(), app: { onFrame: (p, f) => p.send(f) } });
 * await host.close();
 * ```
 */
export async function startAsyncSelectHost(options: PeerHostOptions): Promise<PeerHost> {
  const transport = options.transport ?? await defaultTransport();
  const loop = new MessageLoop({
    // A handler that failed unexpectedly costs its client only.
    onError: (error, message) => {
      if (message.target instanceof HostClientSocket) message.target.peer.fail(error as Error);
    },
  });
  const listenSocket = new HostListenSocket(
    loop,
    options.codec,
    options.app,
    options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK,
    { transport },
  );
  await listenSocket.listen({ hostname: options.hostname ?? "127.0.0.1", port: options.port ?? 0 });
  const running = loop.run();
  let closed = false;
  return {
    addr: listenSocket.addr!,
    async close() {
      if (closed) return;
      closed = true;
      await listenSocket.close();
      await closePeers(() => [...listenSocket.clients].map((client) => client.peer));
      await listenSocket.closing.settled();
      loop.stop();
      await running;
    },
  };
}
