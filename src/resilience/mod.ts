/**
 * The resilience kit: timeouts, backoff, retries, a reconnecting client with heartbeats, Happy
 * Eyeballs, per-connection metrics, and the small async helpers they are built from. Every
 * wait takes an `AbortSignal`, and every timer runs on an injectable {@linkcode Clock}.
 *
 * - Async helpers: {@linkcode delay}, {@linkcode deadline}, {@linkcode abortable},
 *   {@linkcode pooledMap}.
 * - Timeouts: {@linkcode connectWithTimeout} (DNS plus connect), {@linkcode withIdleTimeout}
 *   (read, write and all idle), {@linkcode withTimeout} (per request), and any outer signal as
 *   the global cancel. Every timeout is a {@linkcode TimeoutError}, a `NetError` ETIMEDOUT.
 * - {@linkcode Backoff} with `none`, `full`, `equal` and `decorrelated` jitter, and
 *   {@linkcode retry} with {@linkcode isRetryableError} and {@linkcode RetryError}.
 * - {@linkcode ReconnectingClient}, {@linkcode Heartbeat}, {@linkcode happyEyeballs},
 *   {@linkcode ConnectionMetrics}.
 *
 * @example
 * ```ts
 * import { retry, connectWithTimeout } from "sockmodels/resilience";
 * const stream = await retry(
 *   ({ signal }) => connectWithTimeout("localhost", 9000, { timeoutMs: 3000, signal }),
 *   { maxAttempts: 5, backoff: { baseMs: 250, capMs: 5000, jitter: "equal" } },
 * );
 * ```
 *
 * @module
 */

export { type Clock, ManualClock, systemClock, type TimerHandle } from "./clock.ts";
export { describeCause, RetryError, type RetryGiveUpReason, TimeoutError, type TimeoutKind } from "./errors.ts";
export { delay, type DelayOptions } from "./delay.ts";
export { deadline, type DeadlineOptions } from "./deadline.ts";
export { abortable } from "./abortable.ts";
export { pooledMap } from "./pooled_map.ts";
export {
  type TimeoutScope,
  timeoutSignal,
  type TimeoutSignalOptions,
  withTimeout,
  type WithTimeoutOptions,
} from "./timeout.ts";
export {
  type IdleEvent,
  type IdleKind,
  type IdleTimeoutOptions,
  IdleTimeoutStream,
  withIdleTimeout,
} from "./idle_timeout.ts";
export { type RandomSource, seededRandom } from "./random.ts";
export { Backoff, backoffDelay, type BackoffOptions, type BackoffParams, type Jitter } from "./backoff.ts";
export {
  isRetryableError,
  retry,
  RETRYABLE_CODES,
  type RetryContext,
  type RetryInfo,
  type RetryOptions,
} from "./retry.ts";
export {
  type AddressFamily,
  ipFamily,
  lookupCancelled,
  type ResolvedAddress,
  type Resolver,
  staticAddresses,
  systemResolver,
} from "./resolve.ts";
export { type AttemptInfo, happyEyeballs, type HappyEyeballsOptions } from "./happy_eyeballs.ts";
export { connectWithTimeout, type ConnectWithTimeoutOptions } from "./connect.ts";
export { checkHeartbeatConfig, Heartbeat, type HeartbeatConfig, type HeartbeatOptions } from "./heartbeat.ts";
export {
  ConnectionMetrics,
  type ConnectionMetricsOptions,
  type ConnectionState,
  type ConnectionStats,
  type ResilienceEvent,
  type ResilienceEventBase,
  type ResilienceEventInput,
} from "./metrics.ts";
export { type Endpoint, ReconnectingClient, type ReconnectingClientOptions } from "./reconnect.ts";
