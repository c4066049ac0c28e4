/**
 * The IOCP echo server of seeds 002 and 003: a completion port with a pool of workers, an
 * AcceptEx pipeline kept full, a per-IO context for every overlapped operation, the
 * recv → send → recv cycle per connection, and exit packets for shutdown.
 *
 *   sockmodels serve echo --model iocp --port 9000 --framing lp4
 *
 * @module
 */
import {
  CompletionPort,
  type CompletionStatus,
  OverlappedListener,
  type OverlappedSocket,
  type PortWorker,
} from "../models/iocp.ts";
import { availableParallelism } from "../runtime/detect.ts";
import { listenAt } from "./listen_at.ts";
import { echoCodec, type EchoServer, type EchoServerOptions, framedBytes } from "./echo_framing.ts";
import type { FrameDecoder } from "../framing/mod.ts";

/** How many AcceptEx operations stay posted (the seeds pre-post 10 to 64). */
const ACCEPT_PIPELINE = 16;
const RECV_SIZE = 16 * 1024;

/** The per-IO context: which operation, and the buffer it owns until it completes. */
interface PerIo {
  op: "accept" | "recv" | "send";
  buffer: Uint8Array;
}

/** The completion key of a connection. */
interface Connection {
  socket: OverlappedSocket;
  decoder: FrameDecoder | undefined;
}

const EXIT = Symbol("exit packet");
const LISTENER = Symbol("listener");

/**
 * Starts the IOCP echo server.
 *
 * @example
 * ```ts
 * const server = await startIocpEcho({ port: 0, framing: "lp4" });
 * console.log(`listening on ${server.addr.port}`);
 * await server.close();
 * ```
 */
export async function startIocpEcho(options: EchoServerOptions = {}): Promise<EchoServer> {
  const codec = echoCodec(options.framing);
  const port = new CompletionPort({ concurrency: 0 });
  const listener = await OverlappedListener.listen(listenAt(options));
  port.associate(listener, LISTENER);
  const connections = new Set<Connection>();
  let stopping = false;

  const postAccept = () => port.postAccept(listener, { op: "accept", buffer: new Uint8Array(0) } as PerIo);
  for (let i = 0; i < ACCEPT_PIPELINE; i++) postAccept();

  const postRecv = (conn: Connection, io: PerIo) => {
    io.op = "recv";
    port.postRecv(conn.socket, io.buffer, io);
  };

  const closeConnection = (conn: Connection) => {
    if (!connections.delete(conn)) return;
    void conn.socket.close();
  };

  const handle = (status: CompletionStatus) => {
    const io = status.overlapped as PerIo;
    if (status.key === LISTENER) {
      if (!status.ok) return; // aborted by shutdown
      const conn: Connection = { socket: status.socket!, decoder: codec?.decoder() };
      connections.add(conn);
      port.associate(conn.socket, conn);
      postRecv(conn, { op: "recv", buffer: new Uint8Array(RECV_SIZE) });
      if (!stopping) postAccept(); // keep the AcceptEx pipeline full
      return;
    }
    const conn = status.key as Connection;
    if (!status.ok) {
      closeConnection(conn); // reset, or aborted by close
      return;
    }
    if (io.op === "recv") {
      if (status.bytesTransferred === 0) {
        closeConnection(conn); // the client closed; every echo was sent before this recv
        return;
      }
      const data = io.buffer.subarray(0, status.bytesTransferred);
      let reply: Uint8Array | undefined;
      if (conn.decoder) {
        let frames: Uint8Array[];
        try {
          frames = conn.decoder.push(data.slice());
        } catch {
          closeConnection(conn);
          return;
        }
        if (frames.length > 0) {
          reply = framedBytes(codec!, frames);
        }
      } else {
        reply = data;
      }
      if (reply) {
        // The buffer now belongs to the send until it completes; the next recv waits for it.
        const sendIo: PerIo = { op: "send", buffer: io.buffer };
        port.postSend(conn.socket, reply, sendIo);
      } else {
        postRecv(conn, io);
      }
      return;
    }
    if (io.op === "send") postRecv(conn, io);
  };

  const workerLoop = async (worker: PortWorker) => {
    while (true) {
      const status = await worker.getQueuedCompletionStatus();
      if (status.key === EXIT || (!status.ok && status.overlapped === null)) break;
      try {
        handle(status);
      } catch {
        // One connection's failure must not stop a worker.
        if (status.key && status.key !== LISTENER) closeConnection(status.key as Connection);
      }
    }
    worker.release();
  };
  const workerCount = 2 * availableParallelism();
  const workers = Array.from({ length: workerCount }, () => workerLoop(port.worker()));

  return {
    addr: listener.addr,
    async close() {
      stopping = true;
      await listener.close();
      for (const conn of [...connections]) closeConnection(conn);
      for (let i = 0; i < workerCount; i++) port.postQueuedCompletionStatus(0, EXIT);
      await Promise.all(workers);
      port.close();
    },
  };
}
