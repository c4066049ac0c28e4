/**
 * A group of worker processes that serve one port, and the supervisor that keeps them: how a
 * server uses every core of a machine.
 *
 * - The workers share the port with `SO_REUSEPORT` where the runtime has it (Deno, started
 *   with `--unstable-net`; Bun; Node 22.12 and later), so the kernel spreads connections over
 *   them. Node 20 has no `reusePort`, and its workers are `node:cluster` workers instead,
 *   whose primary (this process) accepts and hands connections round robin.
 * - A worker that dies is restarted after a {@linkcode Backoff} delay, and why it died is
 *   reported.
 * - {@linkcode ProcessGroup.stop} asks every worker to drain with SIGTERM and waits for them.
 * - {@linkcode ProcessGroup.roll} replaces the workers one at a time, each only once its
 *   replacement listens, so that the port never stops accepting.
 *
 * A worker speaks to the group on its standard output, one JSON object per line. The line
 * `{"event":"listening","port":P}` says that it accepts connections; every other object goes
 * to {@linkcode ProcessGroupOptions.onRecord}. Inside a worker, {@linkcode groupWorker} says
 * which worker it is and how to listen. With {@linkcode ProcessGroupOptions.channel}, the
 * workers also talk to one another through the supervisor: {@linkcode joinGroupChannel}.
 *
 * @module
 */

import { Backoff, type BackoffOptions } from "../resilience/backoff.ts";
import {
  type ChildHandle,
  environmentVariable,
  isClusterWorker,
  onStdoutClosed,
  parentProcessId,
  processId,
  readStdinLines,
  startClusterWorker,
  startProcess,
  writeStdout,
} from "../platform/process.ts";

/**
 * How the workers of a group share a port: `reuse-port` (`SO_REUSEPORT`, each worker its own
 * listening socket) or `cluster` (`node:cluster`, one socket in the primary).
 *
 * @example
 * ```ts
 * const sharing: PortSharing = "reuse-port";
 * ```
 */
export type PortSharing = "reuse-port" | "cluster";

const WORKER_ID = "SOCKMODELS_GROUP_WORKER";
const WORKER_SHARING = "SOCKMODELS_GROUP_SHARING";
const WORKER_CHANNEL = "SOCKMODELS_GROUP_CHANNEL";
const SUPERVISOR_PID = "SOCKMODELS_GROUP_SUPERVISOR";

/**
 * What a worker process knows of its group: its number (1 to N, kept by its replacements)
 * and how it must listen.
 *
 * @example
 * ```ts
 * const worker: GroupWorker = { id: 2, sharing: "reuse-port" };
 * ```
 */
export interface GroupWorker {
  /** The worker's number in the group, from 1. */
  id: number;
  /** How it shares the port: with `reuse-port`, it must listen with `reusePort: true`. */
  sharing: PortSharing;
}

/**
 * The group this process is a worker of, or undefined when it is not a worker.
 *
 * @example
 * ```ts
 * const worker = groupWorker();
 * const reusePort = worker?.sharing === "reuse-port";
 * ```
 */
export function groupWorker(): GroupWorker | undefined {
  const id = Number(environmentVariable(WORKER_ID));
  if (!Number.isInteger(id) || id < 1) return undefined;
  const sharing = environmentVariable(WORKER_SHARING) === "cluster" || isClusterWorker() ? "cluster" : "reuse-port";
  return { id, sharing };
}

/**
 * In a worker: resolves once its supervisor has ended without stopping it (killed, or a
 * second Ctrl-C), so that the worker drains and exits rather than serving on, orphaned.
 * `cancel()` stops watching.
 *
 * @example
 * ```ts
 * const gone = supervisorGone();
 * await gone.promise; // then drain and exit
 * gone.cancel();
 * ```
 */
export function supervisorGone(pollMs = 500): { promise: Promise<void>; cancel(): void } {
  // The supervisor's pid comes from the environment, so that a supervisor that died before
  // this is called is noticed too; a closed standard output means the same.
  const parent = Number(environmentVariable(SUPERVISOR_PID)) || parentProcessId();
  let timer: ReturnType<typeof setInterval> | undefined;
  let stopWatchingOutput = () => {};
  let fired = false;
  const promise = new Promise<void>((resolve) => {
    const gone = () => {
      clearInterval(timer);
      // Standard output stays watched: its writes fail from now on, quietly.
      resolve();
    };
    timer = setInterval(() => parentProcessId() !== parent && gone(), pollMs);
    stopWatchingOutput = onStdoutClosed(gone);
  }).then(() => {
    fired = true;
  });
  return {
    promise,
    cancel: () => {
      clearInterval(timer);
      if (!fired) stopWatchingOutput();
    },
  };
}

/**
 * A worker's end of its group's channel; see {@linkcode joinGroupChannel}.
 *
 * @example
 * ```ts
 * declare const channel: GroupChannel;
 * channel.publish({ room: "lobby", text: "hello" });
 * ```
 */
export interface GroupChannel {
  /** Sends `data` (anything JSON can carry) to every worker of the group, this one included. */
  publish(data: unknown): void;
  /** Stops receiving. */
  close(): void;
}

/**
 * A change in who is on a group's channel, as every worker sees it, in the channel's order:
 * a worker process started (`joined`) or ended (`left`), by pid, and the pids of every worker
 * on the channel after the change. The supervisor sends one at every start and end, so that
 * state the workers keep about one another can be handed to a newcomer and dropped when its
 * owner dies.
 *
 * @example
 * ```ts
 * const change: GroupMembership = { joined: 4242, members: [4241, 4242] };
 * ```
 */
export interface GroupMembership {
  /** The pid of the worker that started. */
  joined?: number;
  /** The pid of the worker that ended. */
  left?: number;
  /** The pids of every worker on the channel now. */
  members: number[];
}

/**
 * In a worker of a group started with a channel: receives, in `onRecord`, everything any
 * worker publishes, with the publisher's number, a sequence number that the supervisor
 * gives and the publisher's pid, in the same order on every worker; and in `onMembership`,
 * in that same order, every start and end of a worker. Throws a `TypeError` in a process that
 * is not such a worker.
 *
 * @example
 * ```ts
 * const channel = joinGroupChannel((data, from, seq) => console.log(seq, from, data));
 * channel.publish({ hello: "from a worker" });
 * ```
 */
export function joinGroupChannel(
  onRecord: (data: unknown, from: number, seq: number, pid: number) => void,
  onMembership?: (change: GroupMembership, seq: number) => void,
): GroupChannel {
  if (groupWorker() === undefined || environmentVariable(WORKER_CHANNEL) !== "1") {
    throw new TypeError("joinGroupChannel needs a worker of a process group started with a channel");
  }
  const stop = readStdinLines((line) => {
    if (line === "") return;
    const record = JSON.parse(line) as { seq: number; from: number; pid: number; data?: unknown } & GroupMembership;
    if (record.from === 0) {
      onMembership?.({ joined: record.joined, left: record.left, members: record.members }, record.seq);
    } else onRecord(record.data, record.from, record.seq, record.pid);
  });
  return {
    publish(data) {
      writeStdout(JSON.stringify({ event: "channel", data }) + "\n");
    },
    close: stop,
  };
}

/**
 * One worker of a group as the supervisor sees it.
 *
 * @example
 * ```ts
 * const info: WorkerInfo = { id: 1, pid: 4242, generation: 1, ready: true };
 * ```
 */
export interface WorkerInfo {
  /** Its number in the group, from 1; a replacement keeps the number. */
  readonly id: number;
  /** Its process id. */
  readonly pid: number;
  /** How many processes have held this number, this one included. */
  readonly generation: number;
  /** It has said that it listens. */
  readonly ready: boolean;
}

/**
 * Why a worker ended.
 *
 * @example
 * ```ts
 * const exit: WorkerExit = { code: null, signal: "SIGKILL", expected: false, stderr: "" };
 * ```
 */
export interface WorkerExit {
  /** Its exit code, or null when a signal ended it. */
  code: number | null;
  /** The signal that ended it, if one did. */
  signal: string | null;
  /** The group asked it to end (stop or roll); otherwise it crashed and is restarted. */
  expected: boolean;
  /** Why it ended: the group's reason when the group killed it, else the last lines it wrote to standard error. */
  stderr: string;
  /** When it crashed: how long the group waits before it starts the replacement. */
  restartInMs?: number;
}

/**
 * Options of {@linkcode startProcessGroup}.
 *
 * @example
 * ```ts
 * const options: ProcessGroupOptions = {
 *   processes: 2,
 *   port: 0,
 *   sharing: "reuse-port",
 *   command: (port) => ({ command: "bun", args: ["server.ts", "--port", String(port)] }),
 * };
 * ```
 */
export interface ProcessGroupOptions {
  /** How many workers. */
  processes: number;
  /** The port to serve; 0 lets the first worker pick one, which the others then share. */
  port: number;
  /** How the workers share the port; see {@linkcode defaultPortSharing}. */
  sharing: PortSharing;
  /**
   * The command line of a worker that must listen on `port`. With `cluster`, the first
   * argument is the script that Node runs.
   */
  command(port: number): { command: string; args: string[] };
  /** Receives each JSON object a worker prints, except its `listening` line. */
  onRecord?(worker: WorkerInfo, record: Record<string, unknown>): void;
  /** A worker printed a line that is not a JSON object. */
  onText?(worker: WorkerInfo, line: string): void;
  /** A worker wrote to its standard error (which is otherwise kept only to say why it died). */
  onStderr?(worker: WorkerInfo, text: string): void;
  /** A worker started listening. */
  onReady?(worker: WorkerInfo): void;
  /** A worker ended. */
  onExit?(worker: WorkerInfo, exit: WorkerExit): void;
  /** The delays between restarts of a crashing worker. Default 100 ms doubling to 10 s. */
  restartBackoff?: BackoffOptions;
  /** How long a worker may take to listen before it is taken as failed. Default 30 s. */
  readyTimeoutMs?: number;
  /** How long a worker may take to drain after SIGTERM before it is killed. Default 60 s. */
  stopTimeoutMs?: number;
  /**
   * Give the workers a channel to one another ({@linkcode joinGroupChannel}): what one
   * publishes, every worker (itself included) receives, in one order for all. A worker that
   * falls this many bytes behind is killed (and restarted) rather than buffered for without
   * bound. Default: no channel.
   */
  channel?: { maxQueuedBytes?: number };
}

/**
 * A running group; see {@linkcode startProcessGroup}.
 *
 * @example
 * ```ts
 * declare const group: ProcessGroup;
 * console.log(`port ${group.port}:`, group.workers.map((w) => w.pid));
 * await group.roll();
 * await group.stop();
 * ```
 */
export interface ProcessGroup {
  /** The port the workers share. */
  readonly port: number;
  /** The workers now, by number. */
  readonly workers: readonly WorkerInfo[];
  /**
   * Replaces every worker, one at a time: starts the replacement, waits until it listens,
   * then drains the old one. Rejects (keeping the old worker) when a replacement fails.
   */
  roll(): Promise<void>;
  /** Asks every worker to drain (SIGTERM) and resolves once all have ended. */
  stop(): Promise<void>;
}

/**
 * How workers share a port on this runtime: `reuse-port` on Deno, Bun and Node 22.12 or
 * later; `cluster` on older Node.
 *
 * @example
 * ```ts
 * import { detectRuntime } from "../runtime/detect.ts";
 * const sharing = defaultPortSharing(detectRuntime(), true);
 * ```
 */
export function defaultPortSharing(runtime: "deno" | "bun" | "node", nodeHasReusePort: boolean): PortSharing {
  return runtime === "node" && !nodeHasReusePort ? "cluster" : "reuse-port";
}

const STDERR_KEPT = 4096;

class Slot implements WorkerInfo {
  readonly id: number;
  readonly generation: number;
  child!: ChildHandle;
  ready = false;
  expected = false;
  awaited = false;
  /** Its drain, once asked for: a worker is sent SIGTERM once. */
  draining: Promise<void> | undefined;
  /** Why the group killed it, if it did. */
  why: string | undefined;
  stderr = "";
  readonly listening: Promise<void>;
  #onListening!: () => void;
  #lineBuffer = "";

  constructor(id: number, generation: number) {
    this.id = id;
    this.generation = generation;
    this.listening = new Promise((resolve) => (this.#onListening = resolve));
  }

  get pid(): number {
    return this.child.pid;
  }

  markListening(): void {
    this.ready = true;
    this.#onListening();
  }

  lines(text: string): string[] {
    this.#lineBuffer += text;
    const lines = this.#lineBuffer.split("\n");
    this.#lineBuffer = lines.pop()!;
    return lines;
  }

  keepStderr(text: string): void {
    this.stderr = (this.stderr + text).slice(-STDERR_KEPT);
  }
}

/**
 * Starts `processes` workers on one port and supervises them; resolves once every worker
 * listens. Rejects when the first worker cannot start listening.
 *
 * @example
 * ```ts
 * const group = await startProcessGroup({
 *   processes: 2,
 *   port: 0,
 *   sharing: "reuse-port",
 *   command: (port) => ({ command: "bun", args: ["server.ts", "--port", String(port)] }),
 *   onExit: (worker, exit) => console.log(`worker ${worker.id} ended`, exit),
 * });
 * await group.stop();
 * ```
 */
export async function startProcessGroup(options: ProcessGroupOptions): Promise<ProcessGroup> {
  if (!Number.isInteger(options.processes) || options.processes < 1) {
    throw new RangeError(`A process group needs a whole number of processes >= 1, got ${options.processes}`);
  }
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  const stopTimeoutMs = options.stopTimeoutMs ?? 60_000;
  const slots: Slot[] = [];
  const backoffs = new Map<number, Backoff>();
  /** The restarts waiting for their backoff delay, by worker number. */
  const pendingRestarts = new Map<number, ReturnType<typeof setTimeout>>();
  const steadyTimers = new Map<number, ReturnType<typeof setTimeout>>();
  let port = options.port;
  let stopping = false;
  let channelSeq = 0;
  /** Every worker process alive, including replacements not yet listening. */
  const running = new Set<Slot>();
  const maxQueuedBytes = options.channel?.maxQueuedBytes ?? 16 * 1024 * 1024;

  /** Hands a record of the channel to every worker, in the order the supervisor got them. */
  const relay = (from: Slot, data: unknown) => {
    send(JSON.stringify({ seq: ++channelSeq, from: from.id, pid: from.pid, data }) + "\n");
  };
  /** Tells every worker on the channel that one started or ended, in the channel's order. */
  const announceMembership = (change: { joined?: number; left?: number }) => {
    if (!options.channel) return;
    const members = [...running].filter((slot) => !slot.child.hasExited).map((slot) => slot.pid);
    send(JSON.stringify({ seq: ++channelSeq, from: 0, pid: 0, ...change, members }) + "\n");
  };
  const send = (line: string) => {
    for (const slot of running) {
      if (slot.child.hasExited) continue;
      slot.child.writeInput(line);
      if (slot.child.queuedInputBytes > maxQueuedBytes) {
        slot.why = `it fell ${slot.child.queuedInputBytes} bytes behind the group channel, above ${maxQueuedBytes}`;
        slot.child.kill("SIGKILL");
      }
    }
  };

  const backoffOf = (id: number): Backoff => {
    let backoff = backoffs.get(id);
    if (!backoff) {
      backoff = new Backoff({ baseMs: 100, capMs: 10_000, jitter: "equal", ...options.restartBackoff });
      backoffs.set(id, backoff);
    }
    return backoff;
  };

  const onLine = (slot: Slot, line: string) => {
    if (line.trim() === "") return;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      record = undefined;
    }
    if (typeof record !== "object" || record === null || Array.isArray(record)) {
      options.onText?.(slot, line);
      return;
    }
    const fields = record as Record<string, unknown>;
    if (fields.event === "channel" && options.channel) {
      relay(slot, fields.data);
      return;
    }
    if (fields.event === "listening" && typeof fields.port === "number" && !slot.ready) {
      if (port === 0) port = fields.port;
      slot.markListening();
      // A worker that has listened for ten seconds is healthy: its next crash starts the
      // backoff over.
      clearTimeout(steadyTimers.get(slot.id));
      steadyTimers.set(
        slot.id,
        setTimeout(() => backoffs.get(slot.id)?.reset(), 10_000),
      );
      options.onReady?.(slot);
    }
    options.onRecord?.(slot, fields);
  };

  const spawn = async (id: number, generation: number): Promise<Slot> => {
    // Cluster workers share the primary's socket by the port they ask for: all ask for the
    // same one, even when it is 0.
    const { command, args } = options.command(options.sharing === "cluster" ? options.port : port);
    const env: Record<string, string> = {
      [WORKER_ID]: String(id),
      [WORKER_SHARING]: options.sharing,
      [SUPERVISOR_PID]: String(processId()),
      ...(options.channel ? { [WORKER_CHANNEL]: "1" } : {}),
    };
    const slot = new Slot(id, generation);
    const handlers = {
      env,
      input: options.channel !== undefined,
      onStdout: (text: string) => {
        for (const line of slot.lines(text)) onLine(slot, line);
      },
      onStderr: (text: string) => {
        slot.keepStderr(text);
        options.onStderr?.(slot, text);
      },
    };
    // The child's output comes in later turns of the event loop, once `slot.child` is set.
    const child = slot.child = options.sharing === "cluster"
      ? await startClusterWorker(args[0], args.slice(1), handlers)
      : startProcess(command, args, handlers);
    running.add(slot);
    announceMembership({ joined: child.pid });
    void child.exited.then(
      (code) => ended(slot, code, child.exitSignal),
      (error: Error) => ended(slot, null, null, error.message),
    );
    return slot;
  };

  const ended = (slot: Slot, code: number | null, signal: string | null, why?: string) => {
    if (running.delete(slot)) announceMembership({ left: slot.pid });
    const current = slots[slot.id - 1] === slot;
    // A worker that dies before it listens, while the group waits for it (starting or
    // rolling), fails that wait instead of being restarted.
    const expected = slot.expected || stopping || !current || slot.awaited;
    const exit: WorkerExit = { code, signal, expected, stderr: why ?? slot.why ?? slot.stderr };
    if (!expected) {
      const delay = Math.round(backoffOf(slot.id).next());
      exit.restartInMs = delay;
      clearTimeout(steadyTimers.get(slot.id));
      clearTimeout(pendingRestarts.get(slot.id));
      const timer = setTimeout(() => {
        pendingRestarts.delete(slot.id);
        // A roll may have replaced the worker meanwhile: then there is nothing to restart.
        if (stopping || slots[slot.id - 1] !== slot) return;
        spawn(slot.id, slot.generation + 1).then(
          (next) => {
            if (stopping) {
              next.expected = true;
              next.child.kill("SIGTERM");
            }
            slots[slot.id - 1] = next;
          },
          // Not even started: counts as one more crash, restarted after a longer delay.
          (error: Error) => ended(slot, null, null, `Could not start a worker: ${error.message}`),
        );
      }, delay);
      pendingRestarts.set(slot.id, timer);
    }
    options.onExit?.(slot, exit);
  };

  const waitReady = async (slot: Slot): Promise<void> => {
    slot.awaited = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      slot.listening.then(() => "ready" as const),
      slot.child.exited.then(() => "ended" as const, () => "ended" as const),
      new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), readyTimeoutMs))),
    ]);
    clearTimeout(timer);
    slot.awaited = false;
    if (outcome === "ready") return;
    slot.expected = true;
    slot.child.kill("SIGKILL");
    const stderr = slot.stderr.trim();
    throw new Error(
      outcome === "timeout"
        ? `Worker ${slot.id} did not listen within ${readyTimeoutMs} ms${stderr ? `: ${stderr}` : ""}`
        : `Worker ${slot.id} ended before it listened${stderr ? `: ${stderr}` : ""}`,
    );
  };

  const drain = (slot: Slot): Promise<void> => slot.draining ??= drainOnce(slot);
  const drainOnce = async (slot: Slot): Promise<void> => {
    slot.expected = true;
    slot.child.kill("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        slot.child.kill("SIGKILL");
        resolve();
      }, stopTimeoutMs);
    });
    await Promise.race([slot.child.exited.catch(() => null), killed]);
    clearTimeout(timer);
    await slot.child.exited.catch(() => null);
  };

  const stop = async (): Promise<void> => {
    stopping = true;
    for (const timer of pendingRestarts.values()) clearTimeout(timer);
    pendingRestarts.clear();
    for (const timer of steadyTimers.values()) clearTimeout(timer);
    // Every process, including a replacement that a roll is still starting.
    await Promise.all([...new Set([...slots, ...running])].map(drain));
  };

  // The first worker settles the port (when it is 0); the others then share it.
  try {
    const first = await spawn(1, 1);
    slots.push(first);
    await waitReady(first);
    const rest: Slot[] = [];
    for (let id = 2; id <= options.processes; id++) {
      const slot = await spawn(id, 1);
      slots.push(slot);
      rest.push(slot);
    }
    await Promise.all(rest.map(waitReady));
  } catch (error) {
    await stop();
    throw error;
  }

  let rolling: Promise<void> | undefined;
  const roll = async (): Promise<void> => {
    for (let index = 0; index < slots.length && !stopping; index++) {
      const old = slots[index];
      // A worker waiting to be restarted is replaced by the roll instead.
      clearTimeout(pendingRestarts.get(old.id));
      pendingRestarts.delete(old.id);
      const next = await spawn(old.id, old.generation + 1);
      try {
        await waitReady(next);
      } catch (error) {
        throw new Error(`Replacing worker ${old.id} failed; it keeps serving: ${(error as Error).message}`);
      }
      if (stopping) {
        await drain(next);
        return;
      }
      slots[index] = next;
      await drain(old);
    }
  };

  return {
    get port() {
      return port;
    },
    get workers() {
      return [...slots];
    },
    roll() {
      if (rolling) return rolling;
      rolling = roll().finally(() => (rolling = undefined));
      return rolling;
    },
    stop,
  };
}
