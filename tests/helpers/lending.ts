/**
 * A transport whose streams take loaned chunks (`StreamHandlers.loanedChunks`) and copy each
 * one at once, as a consumer of loaned chunks must: the conformance suite runs through it to
 * check every transport in its loaned mode too.
 */
import { DelegatingStream } from "../../src/runtime/delegating_stream.ts";
import type { Stream, StreamHandlers, Transport } from "../../src/runtime/types.ts";

class LendingStream extends DelegatingStream {
  override setHandlers(handlers: StreamHandlers): void {
    this.inner.setHandlers({
      loanedChunks: true,
      onData: (chunk) => handlers.onData?.(chunk.slice()),
      onDrain: () => handlers.onDrain?.(),
      onEnd: () => handlers.onEnd?.(),
      onClose: (error) => handlers.onClose?.(error),
    });
  }
}

/** Wraps `inner` so that every stream it makes or accepts takes loaned chunks and copies them. */
export function lending(inner: Transport): Transport {
  return {
    name: inner.name,
    capabilities: inner.capabilities,
    listen: (options) => inner.listen({ ...options, onAccept: (s: Stream) => options.onAccept(new LendingStream(s)) }),
    connect: async (options) => new LendingStream(await inner.connect(options)),
    bindDatagram: (options) => inner.bindDatagram(options),
  };
}
