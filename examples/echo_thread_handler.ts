/**
 * The handler the engine echo runs in its threads with `--threads N` (src/apps/echo_thread_handler.ts).
 */
export { default } from "../src/apps/echo_thread_handler.ts";
