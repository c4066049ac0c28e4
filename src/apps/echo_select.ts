/**
 * The select echo of seed 003 (SelectServer): one loop, non-blocking sockets, and `select`.
 * Every iteration rebuilds the sets from the master list (`fd_set readSet = masterSet`):
 *
 * - the read set holds the listening socket and every client that may read;
 * - the write set holds only the clients with output still to send (a partial send keeps the
 *   tail, sent when select says the socket is writable again);
 * - the except set holds the clients left out of the read set (a slow reader's, or one whose
 *   peer has half-closed), so that a reset on them is still noticed.
 *
 * A listener in the read set means one connection can be accepted; a client means one recv.
 *
 * FD_SETSIZE: Winsock's default is 64 sockets per set, and a program may `#define FD_SETSIZE`
 * higher before including winsock2.h. `startSelectEcho` takes `setSize` (default 1024 here). With
 * more open sockets than that, the server does what Windows servers do: it splits the sockets
 * into groups of `setSize` and selects on every group at once, handling whichever are ready.
 *
 *   sockmodels serve echo --model select --port 9000 --framing lp4
 *
 * @module
 */
import { FdSet, select } from "../models/select.ts";
import { NonBlockingListener, type NonBlockingSocket, WOULD_BLOCK } from "../models/nonblocking.ts";
import { listenAt } from "./listen_at.ts";
import type { FrameCodec, FrameDecoder } from "../framing/mod.ts";
import { echoCodec, type EchoServer, type EchoServerOptions, framedParts } from "./echo_framing.ts";
import { PendingCloses } from "./pending_closes.ts";
import { SendQueue } from "./send_queue.ts";

/**
 * Options of the select echo server.
 *
 * @example
 * ```ts
 * const options: SelectEchoOptions = { port: 0, setSize: 64 };
 * ```
 */
export interface SelectEchoOptions extends EchoServerOptions {
  /**
   * FD_SETSIZE of the server's sets. Default 1024 (Winsock's default is 64; like
   * `#define FD_SETSIZE 1024` it can be raised). Above it, the sockets are split into groups.
   */
  setSize?: number;
}

/**
 * The select echo server's FD_SETSIZE.
 *
 * @example
 * ```ts
 * console.log(ECHO_SET_SIZE); // 1024
 * ```
 */
export const ECHO_SET_SIZE = 1024;
/** Stop reading a client while this much echo is still unsent (a slow reader). */
const MAX_BACKLOG = 1024 * 1024;

type Sock = NonBlockingSocket | NonBlockingListener;

interface Client {
  sock: NonBlockingSocket;
  out: SendQueue; // bytes still to send, in order
  decoder: FrameDecoder | undefined;
  peerClosed: boolean;
}

interface Group {
  readSet: FdSet<Sock>;
  writeSet: FdSet<Sock>;
  exceptSet: FdSet<Sock>;
}

/**
 * Starts the select echo server.
 *
 * @example
 * ```ts
 * const server = await startSelectEcho({ port: 0, framing: "lp4" });
 * console.log(`listening on ${server.addr.port}`);
 * await server.close();
 * ```
 */
export async function startSelectEcho(options: SelectEchoOptions = {}): Promise<EchoServer> {
  const setSize = options.setSize ?? ECHO_SET_SIZE;
  if (!Number.isInteger(setSize) || setSize < 2) {
    throw new RangeError(`setSize must be an integer of at least 2, got ${setSize}`);
  }
  const listenSocket = await NonBlockingListener.listen(listenAt(options));
  const codec: FrameCodec | undefined = echoCodec(options.framing);
  const clientSockets = new Map<NonBlockingSocket, Client>();
  const closing = new PendingCloses();
  const buffer = new Uint8Array(64 * 1024);
  const groups: Group[] = [];
  const stop = new AbortController();

  const closeClient = (c: Client, abort: boolean): void => {
    clientSockets.delete(c.sock);
    if (abort) {
      c.sock.reset();
      return;
    }
    closing.close(c.sock);
  };

  const queue = (c: Client, bytes: Uint8Array): void => c.out.push(bytes);

  /** send() until everything is out or it would block; a partial send keeps the tail. */
  const sendPending = (c: Client): void => {
    c.out.drain(c.sock);
  };

  /** One recv, then echo what came (the seed's recv, then send). */
  const onReadable = (c: Client): void => {
    const n = c.sock.tryRecv(buffer);
    if (n === WOULD_BLOCK) return;
    if (n === 0) {
      c.peerClosed = true;
      c.decoder?.end(); // throws on a truncated frame
      return;
    }
    if (c.decoder) {
      for (const frame of c.decoder.push(buffer.slice(0, n))) {
        for (const part of framedParts(codec!, frame)) queue(c, part);
      }
    } else if (c.out.bytes === 0) {
      const sent = c.sock.trySend(buffer.subarray(0, n));
      const done = sent === WOULD_BLOCK ? 0 : sent;
      if (done < n) queue(c, buffer.slice(done, n));
      return;
    } else {
      queue(c, buffer.slice(0, n));
    }
    sendPending(c);
  };

  /** Rebuilds the sets: the master list split into groups of at most setSize sockets. */
  const buildSets = (): Group[] => {
    let g = -1;
    let inGroup = setSize;
    const add = (sock: Sock, read: boolean, write: boolean): void => {
      if (inGroup === setSize) {
        g++;
        inGroup = 0;
        const group = groups[g] ??= {
          readSet: new FdSet<Sock>({ setSize }),
          writeSet: new FdSet<Sock>({ setSize }),
          exceptSet: new FdSet<Sock>({ setSize }),
        };
        group.readSet.clear(); // FD_ZERO
        group.writeSet.clear();
        group.exceptSet.clear();
      }
      const group = groups[g];
      if (read) group.readSet.add(sock); // FD_SET
      else group.exceptSet.add(sock);
      if (write) group.writeSet.add(sock);
      inGroup++;
    };
    add(listenSocket, true, false);
    for (const c of clientSockets.values()) {
      add(c.sock, !c.peerClosed && c.out.bytes < MAX_BACKLOG, c.out.bytes > 0);
    }
    groups.length = g + 1;
    return groups;
  };

  const selectGroups = async (used: Group[]): Promise<Group[]> => {
    // One wait per group, as a Windows server runs one select per FD_SETSIZE sockets.
    const controller = new AbortController();
    const onStop = () => controller.abort();
    stop.signal.addEventListener("abort", onStop, { once: true });
    const settled = await Promise.allSettled(used.map(async (group) => {
      try {
        await select(
          group.readSet,
          group.writeSet.size > 0 ? group.writeSet : null,
          group.exceptSet.size > 0 ? group.exceptSet : null,
          { signal: controller.signal },
        );
      } finally {
        // The first group to return ends the others' wait.
        controller.abort();
      }
    }));
    stop.signal.removeEventListener("abort", onStop);
    const ready: Group[] = [];
    for (let i = 0; i < settled.length; i++) {
      const s = settled[i];
      if (s.status === "fulfilled") ready.push(used[i]);
      else if (!controller.signal.aborted || (s.reason as { code?: string }).code !== "ECANCELED") throw s.reason;
    }
    return ready;
  };

  const handle = (group: Group): void => {
    for (const sock of group.readSet) {
      if (sock === listenSocket) {
        const accepted = listenSocket.tryAccept();
        if (accepted === WOULD_BLOCK) continue;
        clientSockets.set(accepted, {
          sock: accepted,
          out: new SendQueue(),
          decoder: codec?.decoder(),
          peerClosed: false,
        });
        continue;
      }
      const c = clientSockets.get(sock as NonBlockingSocket);
      if (!c) continue;
      try {
        onReadable(c);
      } catch {
        closeClient(c, true); // a reset, or a bad frame: drop this client only
      }
    }
    for (const sock of group.writeSet) {
      const c = clientSockets.get(sock as NonBlockingSocket);
      if (!c) continue;
      try {
        sendPending(c);
      } catch {
        closeClient(c, true);
      }
    }
    for (const sock of group.exceptSet) {
      const c = clientSockets.get(sock as NonBlockingSocket);
      if (c) closeClient(c, true);
    }
  };

  const loop = (async () => {
    while (!stop.signal.aborted) {
      const used = buildSets();
      let ready: Group[];
      try {
        if (used.length === 1) {
          const g = used[0];
          await select(g.readSet, g.writeSet.size > 0 ? g.writeSet : null, g.exceptSet.size > 0 ? g.exceptSet : null, {
            signal: stop.signal,
          });
          ready = used;
        } else {
          ready = await selectGroups(used);
        }
      } catch (error) {
        if (stop.signal.aborted) break;
        throw error;
      }
      for (const group of ready) handle(group);
      for (const c of clientSockets.values()) {
        if (c.peerClosed && c.out.bytes === 0) closeClient(c, false);
      }
    }
  })();

  return {
    addr: listenSocket.addr,
    async close() {
      stop.abort();
      await loop;
      await listenSocket.close();
      for (const c of [...clientSockets.values()]) closeClient(c, false);
      await closing.settled();
    },
  };
}
