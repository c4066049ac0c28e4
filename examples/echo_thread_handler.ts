/**
 * The handler the engine echo example runs in its threads with `--threads N`: it returns each
 * frame, so the engine sends it back.
 *
 * @module
 */

/**
 * Echoes a frame.
 *
 * @example
 * ```ts
 * echo(new Uint8Array([1, 2])); // Uint8Array [1, 2]
 * ```
 */
export default function echo(frame: Uint8Array): Uint8Array {
  return frame;
}
