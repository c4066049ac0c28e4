/** Helpers for the resilience tests. */
import { type Clock, systemClock, type TimerHandle } from "../../src/resilience/clock.ts";
import type { Transport } from "../../src/runtime/types.ts";

/** A real clock that counts its live timers, to prove that nothing is left behind. */
export class CountingClock implements Clock {
  readonly live = new Set<TimerHandle>();
  now(): number {
    return systemClock.now();
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const handle = systemClock.setTimeout(() => {
      this.live.delete(handle);
      fn();
    }, ms);
    this.live.add(handle);
    return handle;
  }
  clearTimeout(handle: TimerHandle): void {
    this.live.delete(handle);
    systemClock.clearTimeout(handle);
  }
}

/** A promise with its resolve and reject. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

/** Makes a {@link Deferred}. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A port on `hostname` that was free a moment ago (bound, then released). */
export async function freePort(
  transport: Transport,
  hostname = "127.0.0.1",
): Promise<number> {
  const listener = await transport.listen({
    hostname,
    port: 0,
    onAccept: (s) => s.reset(),
  });
  const port = listener.addr.port;
  await listener.close();
  return port;
}

/** The error a promise rejects with; fails if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("Expected the promise to reject, but it resolved");
}

/** Whether IPv6 loopback works here. */
export async function hasIpv6(transport: Transport): Promise<boolean> {
  try {
    const listener = await transport.listen({
      hostname: "::1",
      port: 0,
      onAccept: (s) => s.reset(),
    });
    await listener.close();
    return true;
  } catch {
    return false;
  }
}

export const encoder: TextEncoder = new TextEncoder();
export const decoder: TextDecoder = new TextDecoder();
