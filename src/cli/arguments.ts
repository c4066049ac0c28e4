/**
 * Command-line parsing for the `sockmodels` commands: `node:util`'s `parseArgs` underneath
 * (see `parseCommandLine`), with errors worded the same on every runtime, and checks for
 * the values the commands take.
 *
 * @module
 */

import { type OptionSpec, parseCommandLine } from "../platform/process.ts";

/**
 * A command line that cannot be run as given. The CLI prints the message and exits with
 * code 2.
 *
 * @example
 * ```ts
 * throw new UsageError(`Port must be an integer from 0 to 65535, got "http"`, "serve chat");
 * ```
 */
export class UsageError extends Error {
  /** The command whose `--help` explains the usage, such as `serve chat`. */
  readonly command: string;

  constructor(message: string, command = "") {
    super(message);
    this.name = "UsageError";
    this.command = command;
  }
}

/**
 * One option of a command: its type, a short letter, a default, and a line of help.
 *
 * @example
 * ```ts
 * const port: OptionDefinition = {
 *   type: "string",
 *   default: "9000",
 *   value: "PORT",
 *   help: "the port to listen on",
 * };
 * ```
 */
export interface OptionDefinition {
  /** A string option takes a value; a boolean one does not. */
  type: "string" | "boolean";
  /** A one-letter alias, such as `h` for `--help`. */
  short?: string;
  /** The value when the option is absent. */
  default?: string;
  /** The value's name in the help, such as `PORT`. */
  value?: string;
  /** What the option does, for `--help`. */
  help: string;
}

/**
 * What {@linkcode parseOptions} returns: the options' values and the other arguments.
 *
 * @example
 * ```ts
 * const parsed: ParsedOptions = { values: { port: "9000", json: true }, positionals: ["chat"] };
 * ```
 */
export interface ParsedOptions {
  /** Each option's value: a string, true for a boolean option that was given, or undefined. */
  values: Record<string, string | boolean | undefined>;
  /** The arguments that are not options, in order. */
  positionals: string[];
}

/**
 * Parses a command's arguments. Unknown options, missing values and values given to boolean
 * options are {@linkcode UsageError}s that name what was typed.
 *
 * @example
 * ```ts
 * const { values } = parseOptions(
 *   ["--port", "9001"],
 *   { port: { type: "string", default: "9000", help: "the port" } },
 *   "serve chat",
 * );
 * console.log(values.port); // "9001"
 * ```
 */
export function parseOptions(
  args: string[],
  definitions: Record<string, OptionDefinition>,
  command: string,
): ParsedOptions {
  const spec: OptionSpec = {};
  for (const [name, d] of Object.entries(definitions)) {
    spec[name] = d.short === undefined ? { type: d.type } : { type: d.type, short: d.short };
  }
  const { positionals, tokens } = parseCommandLine(args, spec);
  const values: Record<string, string | boolean | undefined> = {};
  for (const [name, d] of Object.entries(definitions)) values[name] = d.default;
  for (const token of tokens) {
    if (token.kind !== "option") continue;
    const d = Object.hasOwn(definitions, token.name) ? definitions[token.name] : undefined;
    if (d === undefined) {
      const shown = token.inlineValue ? `${token.rawName}=${token.value}` : token.rawName;
      const known = Object.keys(definitions).map((name) => `--${name}`);
      throw new UsageError(`Unknown option ${shown}${didYouMean(token.rawName, known)}`, command);
    }
    if (d.type === "boolean") {
      if (token.value !== undefined) {
        throw new UsageError(`Option ${token.rawName} takes no value, got ${JSON.stringify(token.value)}`, command);
      }
      values[token.name] = true;
      continue;
    }
    if (token.value === undefined || (!token.inlineValue && token.value.startsWith("--"))) {
      throw new UsageError(`Option ${token.rawName} needs a value${d.value ? ` (${d.value})` : ""}`, command);
    }
    values[token.name] = token.value;
  }
  return { values, positionals };
}

/**
 * The help text of a command's options, one line each.
 *
 * @example
 * ```ts
 * console.log(describeOptions({
 *   port: { type: "string", value: "PORT", default: "9000", help: "the port" },
 * }));
 * // "  --port PORT       the port (default 9000)"
 * ```
 */
export function describeOptions(definitions: Record<string, OptionDefinition>): string {
  const rows = Object.entries(definitions).map(([name, d]) => {
    const flag = `${d.short ? `-${d.short}, ` : ""}--${name}${d.type === "string" ? ` ${d.value ?? "VALUE"}` : ""}`;
    const fallback = d.default !== undefined ? ` (default ${d.default})` : "";
    return [flag, `${d.help}${fallback}`] as const;
  });
  // Long flags (a model list) get their help on the next line.
  const width = Math.min(26, Math.max(...rows.map(([flag]) => flag.length))) + 2;
  return rows.map(([flag, help]) =>
    flag.length + 2 > width ? `  ${flag}\n  ${"".padEnd(width)}${help}` : `  ${flag.padEnd(width)}${help}`
  ).join("\n");
}

/**
 * Reads a port number (0 picks an ephemeral one).
 *
 * @example
 * ```ts
 * console.log(portValue("9000", "serve chat")); // 9000
 * portValue("http", "serve chat");
 * // throws: Port must be an integer from 0 to 65535, got "http"
 * ```
 */
export function portValue(text: string, command: string): number {
  const port = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`Port must be an integer from 0 to 65535, got ${JSON.stringify(text)}`, command);
  }
  return port;
}

/** The edit distance of two words: insertions, deletions, substitutions and swaps of neighbours. */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) rows[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      rows[i][j] = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        rows[i][j] = Math.min(rows[i][j], rows[i - 2][j - 2] + 1);
      }
    }
  }
  return rows[a.length][b.length];
}

/**
 * The " (did you mean X?)" to append to an error about `word`, naming the closest of
 * `candidates` if one is close enough to be a slip of the keyboard; "" otherwise.
 *
 * @example
 * ```ts
 * didYouMean("--prot", ["--port", "--host"]); // " (did you mean --port?)"
 * didYouMean("xyz", ["serve", "client"]); // ""
 * ```
 */
export function didYouMean(word: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  const allowed = Math.max(1, Math.floor(word.length / 3));
  return best !== undefined && bestDistance <= allowed ? ` (did you mean ${best}?)` : "";
}

/**
 * Reads one of a fixed set of words.
 *
 * @example
 * ```ts
 * const framing = choiceValue("lp4", ["lines", "lp4"], "Framing", "serve chat"); // "lp4"
 * ```
 */
export function choiceValue<T extends string>(text: string, choices: readonly T[], what: string, command: string): T {
  if (!(choices as readonly string[]).includes(text)) {
    throw new UsageError(
      `${what} must be one of ${choices.join(", ")}, got ${JSON.stringify(text)}${didYouMean(text, choices)}`,
      command,
    );
  }
  return text as T;
}

/**
 * Reads a comma-separated list of words from a fixed set; duplicates are dropped.
 *
 * @example
 * ```ts
 * const choices = ["deno", "bun", "node"] as const;
 * const runtimes = choiceListValue("deno,node", choices, "Runtime", "bench models");
 * console.log(runtimes); // ["deno", "node"]
 * ```
 */
export function choiceListValue<T extends string>(
  text: string,
  choices: readonly T[],
  what: string,
  command: string,
): T[] {
  const items = text.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (items.length === 0) {
    throw new UsageError(`${what} needs at least one of ${choices.join(", ")}, got ${JSON.stringify(text)}`, command);
  }
  return [...new Set(items.map((item) => choiceValue(item, choices, what, command)))];
}

/**
 * Reads a positive number, with limits.
 *
 * @example
 * ```ts
 * const seconds = numberValue("2.5", "Seconds", "bench models", { min: 0.1, max: 3600 });
 * console.log(seconds); // 2.5
 * ```
 */
export function numberValue(
  text: string,
  what: string,
  command: string,
  limits: { min: number; max: number; integer?: boolean },
): number {
  const n = /^\d+(\.\d+)?$/.test(text) ? Number(text) : Number.NaN;
  const kind = limits.integer ? "an integer" : "a number";
  if (!Number.isFinite(n) || n < limits.min || n > limits.max || (limits.integer && !Number.isInteger(n))) {
    throw new UsageError(
      `${what} must be ${kind} from ${limits.min} to ${limits.max}, got ${JSON.stringify(text)}`,
      command,
    );
  }
  return n;
}

/**
 * Reads a comma-separated list of positive integers, such as connection counts.
 *
 * @example
 * ```ts
 * const counts = integerListValue("100,1000", "Connections", "bench models", 1, 100_000);
 * console.log(counts); // [100, 1000]
 * ```
 */
export function integerListValue(text: string, what: string, command: string, min: number, max: number): number[] {
  const items = text.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (items.length === 0) {
    throw new UsageError(`${what} needs at least one number, got ${JSON.stringify(text)}`, command);
  }
  return [...new Set(items.map((item) => numberValue(item, what, command, { min, max, integer: true })))];
}

/**
 * Rejects arguments left over after a command's own.
 *
 * @example
 * ```ts
 * declare const positionals: string[];
 * noExtraArguments(positionals.slice(2), "serve chat"); // throws on ["extra"]
 * ```
 */
export function noExtraArguments(extra: string[], command: string): void {
  if (extra.length > 0) {
    throw new UsageError(`Unexpected argument ${JSON.stringify(extra[0])}: ${command} takes options only`, command);
  }
}

/**
 * The protocols of `--tls-alpn`: a comma-separated list of names.
 *
 * @example
 * ```ts
 * alpnList("h2,http/1.1"); // ["h2", "http/1.1"]
 * ```
 */
export function alpnList(value: string): string[] {
  const names = value.split(",").map((name) => name.trim());
  if (names.some((name) => name === "")) {
    throw new TypeError(`--tls-alpn needs a comma-separated list of protocol names, got "${value}"`);
  }
  return names;
}
