/**
 * Text that a line-based application sends to terminals: control characters made visible, so
 * that no client can move another one's cursor or rename its window, and lines cut to the
 * codec's frame limit at a character boundary, so that no reply is ever too large to send.
 *
 * @module
 */

const encoder = new TextEncoder();

// C0 controls but tab, DEL, and the C1 controls (U+0080 to U+009F), which some terminals obey.
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f-\x9f]/g;

function visible(char: string): string {
  const code = char.charCodeAt(0);
  if (code < 0x20) return "^" + String.fromCharCode(code + 0x40);
  if (code === 0x7f) return "^?";
  return `\\x${code.toString(16)}`;
}

/**
 * Replaces every control character but tab with a visible form: caret notation for C0 and DEL
 * (`^@`, `^[`, `^G`, `^?`) and `\x9b` for the C1 controls.
 *
 * @example
 * ```ts
 * import { escapeControls } from "./text_lines.ts";
 * console.log(escapeControls("\x1b]0;pwned\x07")); // ^[]0;pwned^G
 * ```
 */
export function escapeControls(text: string): string {
  return text.replace(CONTROL, visible);
}

/**
 * Encodes `text` as UTF-8 in at most `maxBytes` bytes: a longer text is cut at a character
 * boundary and ends in `…`.
 *
 * @example
 * ```ts
 * import { encodeLine } from "./text_lines.ts";
 * console.log(encodeLine("é".repeat(10), 8).byteLength); // 7: three é and the ellipsis
 * ```
 */
export function encodeLine(text: string, maxBytes: number): Uint8Array {
  const bytes = encoder.encode(text);
  if (bytes.byteLength <= maxBytes) return bytes;
  const ellipsis = encoder.encode("…");
  let end = Math.max(0, maxBytes - ellipsis.byteLength);
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--; // not inside a UTF-8 sequence
  const out = new Uint8Array(end + ellipsis.byteLength);
  out.set(bytes.subarray(0, end));
  out.set(ellipsis, end);
  return out;
}

/**
 * A short, quoted and escaped form of what a client typed, for an error message about it.
 *
 * @example
 * ```ts
 * import { quoteInput } from "./text_lines.ts";
 * console.log(quoteInput("x".repeat(100), 8)); // "xxxxxxxx…" (100 characters)
 * ```
 */
export function quoteInput(text: string, maxChars = 40): string {
  const chars = [...text];
  if (chars.length <= maxChars) return JSON.stringify(escapeControls(text));
  return `${JSON.stringify(escapeControls(chars.slice(0, maxChars).join("")) + "…")} (${chars.length} characters)`;
}

/**
 * The length of `text` in UTF-8 bytes.
 *
 * @example
 * ```ts
 * import { utf8Length } from "./text_lines.ts";
 * console.log(utf8Length("한")); // 3
 * ```
 */
export function utf8Length(text: string): number {
  return encoder.encode(text).byteLength;
}
