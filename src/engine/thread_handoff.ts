/**
 * Handing work to a thread: finding the handler's module in the source and in the npm build,
 * and a view whose buffer can be moved to the thread.
 *
 * @module
 */

/**
 * Resolves `specifier` against `base` the way a relative import would, keeping the file
 * extension in step with `base`: when `base` is compiled JavaScript (`.js`, `.mjs`), a `.ts`
 * or `.mts` specifier becomes `.js` or `.mjs`. The npm build rewrites import specifiers but not
 * strings in `new URL(...)`, so this finds a handler module in both the source and the build.
 *
 * @example
 * ```ts
 * const module = moduleUrl("./handler.ts", import.meta.url);
 * // file:///app/handler.ts from main.ts, file:///app/handler.js from main.js
 * ```
 */
export function moduleUrl(specifier: string, base: string | URL): URL {
  const url = new URL(specifier, base);
  const baseExt = /\.[cm]?js$/.exec(new URL(base).pathname)?.[0];
  if (baseExt !== undefined) {
    url.pathname = url.pathname.replace(/\.([cm]?)tsx?$/, (_, m: string) => `.${m}js`);
  }
  return url;
}

/**
 * A view whose buffer can be moved to a thread without taking anything else: the view itself
 * if it spans its whole `ArrayBuffer`, otherwise a copy of just its bytes. Moving the buffer
 * of a partial view would move (and detach) all the bytes around it, such as the other frames
 * cut from the same chunk; copying a small frame is cheaper than either.
 *
 * @example
 * ```ts
 * import type { ThreadPool } from "sockmodels/engine";
 * declare const pool: ThreadPool<Uint8Array, Uint8Array>;
 * const chunk = new Uint8Array(1024);
 * const frame = ownBytes(chunk.subarray(4, 68)); // a 64-byte copy
 * await pool.run(frame, { transfer: [frame.buffer] });
 * ```
 */
export function ownBytes(view: Uint8Array): Uint8Array<ArrayBuffer> {
  const buffer = view.buffer;
  if (buffer instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === buffer.byteLength) {
    return view as Uint8Array<ArrayBuffer>;
  }
  return view.slice() as Uint8Array<ArrayBuffer>;
}
