/**
 * The log records the chat and omok servers emit; the command line prints them as text or
 * as JSON lines.
 *
 * @module
 */

/**
 * One thing worth logging: what happened (`event`), a sentence for people (`message`), and
 * fields for machines.
 *
 * @example
 * ```ts
 * const record: AppLogEvent = { event: "nick", message: "guest1 is now alice", peer: 3, nick: "alice" };
 * ```
 */
export interface AppLogEvent {
  /** A short, stable name: `join`, `leave`, `nick`, `slow`, `game-start`, `game-over`, … */
  event: string;
  /** What happened, as a sentence. */
  message: string;
  /** Further fields. */
  [field: string]: unknown;
}

/**
 * Receives log records.
 *
 * @example
 * ```ts
 * const log: AppLog = (e) => console.log(e.message);
 * ```
 */
export type AppLog = (event: AppLogEvent) => void;
