/**
 * The shape `sockmodels serve` and `sockmodels client` share: a group of kinds (`chat`,
 * `echo`, `omok`), each with its options and its help, and the checks every kind makes
 * (`--host`, `--port`, no stray arguments).
 *
 * @module
 */

import {
  describeOptions,
  didYouMean,
  noExtraArguments,
  type OptionDefinition,
  parseOptions,
  portValue,
  UsageError,
} from "./arguments.ts";

/**
 * One kind of a group: its options and what it does.
 *
 * @example
 * ```ts
 * const chat: Subcommand = {
 *   about: "A chat server.",
 *   options: { help: { type: "boolean", help: "show this help" } },
 * };
 * ```
 */
export interface Subcommand {
  /** The kind's options; `host`, `port` and `help` are expected among them. */
  options: Record<string, OptionDefinition>;
  /** What it does; the first line also heads the group's list. */
  about: string;
}

/**
 * A group of kinds, such as `serve`.
 *
 * @example
 * ```ts
 * declare const chat: Subcommand;
 * declare const echo: Subcommand;
 * const serve: SubcommandGroup = {
 *   group: "serve",
 *   noun: "server",
 *   needs: "a server",
 *   kinds: { chat, echo },
 * };
 * ```
 */
export interface SubcommandGroup {
  /** The command word: `serve` or `client`. */
  group: string;
  /** What a kind is called in errors: `server`, `client`. */
  noun: string;
  /** What is missing when no kind is given: `a server`. */
  needs: string;
  /** The kinds by name. */
  kinds: Record<string, Subcommand>;
}

/**
 * The command line of one kind, checked.
 *
 * @example
 * ```ts
 * const parsed: ParsedSubcommand = {
 *   name: "chat",
 *   command: "serve chat",
 *   values: {},
 *   host: "127.0.0.1",
 *   port: 9000,
 * };
 * ```
 */
export interface ParsedSubcommand {
  /** The kind, such as `chat`. */
  name: string;
  /** The group and the kind, such as `serve chat`, for errors. */
  command: string;
  /** The options' values. */
  values: Record<string, string | boolean | undefined>;
  /** `--host`, not empty. */
  host: string;
  /** `--port`, 0 to 65535. */
  port: number;
}

/** The first sentence of a text that may wrap over several lines. */
function firstSentence(text: string): string {
  const flat = text.replace(/\s*\n\s*/g, " ");
  const end = flat.search(/\.(\s|$)/);
  return end === -1 ? flat : flat.slice(0, end + 1);
}

/**
 * The usage of a group, or of one of its kinds.
 *
 * @example
 * ```ts
 * declare const serveGroup: SubcommandGroup;
 * console.log(subcommandUsage(serveGroup, "chat"));
 * ```
 */
export function subcommandUsage(g: SubcommandGroup, name?: string): string {
  const names = Object.keys(g.kinds);
  if (name === undefined || !Object.hasOwn(g.kinds, name)) {
    return `Usage: sockmodels ${g.group} <${names.join("|")}> [options]\n\n` +
      Object.entries(g.kinds).map(([n, k]) => `  ${n.padEnd(6)}${firstSentence(k.about)}`).join("\n") +
      `\n\nRun "sockmodels ${g.group} <${g.noun}> --help" for its options.`;
  }
  const k = g.kinds[name];
  return `Usage: sockmodels ${g.group} ${name} [options]\n\n${k.about}\n\nOptions:\n${describeOptions(k.options)}`;
}

/**
 * Parses `<kind> [options]` of a group. Returns the help text to print when help was asked
 * for, and throws a {@linkcode UsageError} for a missing or unknown kind or a bad option.
 *
 * @example
 * ```ts
 * declare const serveGroup: SubcommandGroup;
 * const parsed = parseSubcommand(serveGroup, ["chat", "--port", "9001"]);
 * if (typeof parsed === "string") console.log(parsed); // the help
 * ```
 */
export function parseSubcommand(g: SubcommandGroup, args: string[]): ParsedSubcommand | string {
  const name = args[0];
  const list = Object.keys(g.kinds);
  const choices = `${list.slice(0, -1).join(", ")} or ${list.at(-1)}`;
  if (name === undefined) {
    throw new UsageError(`${g.group[0].toUpperCase()}${g.group.slice(1)} needs ${g.needs}: ${choices}`, g.group);
  }
  if (name === "--help" || name === "-h" || name === "help") return subcommandUsage(g);
  if (!Object.hasOwn(g.kinds, name)) {
    throw new UsageError(`Unknown ${g.noun} ${JSON.stringify(name)}: use ${choices}${didYouMean(name, list)}`, g.group);
  }
  const command = `${g.group} ${name}`;
  const { values, positionals } = parseOptions(args.slice(1), g.kinds[name].options, command);
  if (values.help) return subcommandUsage(g, name);
  noExtraArguments(positionals, command);
  const host = values.host as string;
  if (host === "") throw new UsageError('Host must not be empty, got ""', command);
  return { name, command, values, host, port: portValue(values.port as string, command) };
}
