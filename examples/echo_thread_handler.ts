/**
 * The handler the engine echo runs in its threads with `--threads N`: it returns each frame,
 * so the engine sends it back.
 */
export default function echo(frame: Uint8Array): Uint8Array {
  return frame;
}
