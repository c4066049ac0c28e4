import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  delimited,
  fixedSize,
  FrameDecoderStream,
  FrameEncoderStream,
  FrameTooLargeError,
  lengthPrefixed,
  MalformedFrameError,
  varint,
  writeFrame,
} from "../../src/framing/mod.ts";
import type { Stream } from "../../src/runtime/types.ts";
import { bytes, concat, text } from "./_helpers.ts";

/** A readable stream of the given chunks. */
function source(chunks: readonly Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
}

/** Reads a stream to the end; returns what it read and the error it ended with, if any. */
async function drain(
  stream: ReadableStream<Uint8Array>,
): Promise<{ items: Uint8Array[]; error: unknown }> {
  const items: Uint8Array[] = [];
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { items, error: undefined };
      items.push(value);
    }
  } catch (error) {
    return { items, error };
  }
}

/** A Stream stand-in that records writes, with a high water mark. */
function recorder(
  highWaterMark: number,
): { stream: Pick<Stream, "write">; writes: Uint8Array[] } {
  const writes: Uint8Array[] = [];
  let queued = 0;
  return {
    writes,
    stream: {
      write(chunk: Uint8Array): boolean {
        writes.push(chunk);
        queued += chunk.length;
        return queued <= highWaterMark;
      },
    },
  };
}

describe("FrameDecoderStream and FrameEncoderStream", () => {
  test("encode then decode through Web Streams, for every codec", async () => {
    const payloads = [text("alpha"), text(""), text("beta gamma")];
    const codecs = [
      lengthPrefixed({ lengthFieldLength: 2 }),
      varint(),
      delimited({ delimiter: "\r\n" }),
    ];
    for (const codec of codecs) {
      const encoded = await drain(
        source(payloads).pipeThrough(new FrameEncoderStream(codec)),
      );
      assert.equal(encoded.error, undefined);
      const wire = concat(encoded.items);
      assert.deepEqual(wire, concat(payloads.map((p) => codec.encode(p))));
      // Re-chunk the wire one byte at a time.
      const decoded = await drain(
        source(Array.from(wire, (b) => bytes(b))).pipeThrough(
          new FrameDecoderStream(codec),
        ),
      );
      assert.equal(decoded.error, undefined);
      assert.deepEqual(decoded.items, payloads);
    }
    const fixed = await drain(
      source([bytes(1, 2, 3), bytes(4)]).pipeThrough(
        new FrameDecoderStream(fixedSize(2)),
      ),
    );
    assert.deepEqual(fixed.items, [bytes(1, 2), bytes(3, 4)]);
  });

  test("the encoder stream never copies the payload", async () => {
    const payload = text("zero copy");
    const encoded = await drain(
      source([payload]).pipeThrough(new FrameEncoderStream(varint())),
    );
    assert.equal(encoded.items.length, 2);
    assert.equal(encoded.items[1], payload);
  });

  test("bad input errors the decoder stream with the FramingError", async () => {
    const codec = lengthPrefixed({ lengthFieldLength: 1, maxFrameLength: 4 });
    const { error } = await drain(
      source([bytes(1, 7), bytes(9)]).pipeThrough(
        new FrameDecoderStream(codec),
      ),
    );
    assert.ok(error instanceof FrameTooLargeError);
    assert.equal(error.size, 10);
    const truncated = await drain(
      source([bytes(3, 1)]).pipeThrough(new FrameDecoderStream(codec)),
    );
    assert.ok(
      truncated.error instanceof MalformedFrameError &&
        truncated.error.reason === "truncated",
    );
  });

  test("a payload the codec cannot carry errors the encoder stream", async () => {
    const { error } = await drain(
      source([new Uint8Array(300)]).pipeThrough(
        new FrameEncoderStream(lengthPrefixed({ lengthFieldLength: 1 })),
      ),
    );
    assert.ok(error instanceof RangeError);
    assert.throws(() => new FrameDecoderStream({} as never), TypeError);
  });
});

describe("writeFrame", () => {
  test("writes the header, then the payload itself, without joining them", () => {
    const { stream, writes } = recorder(1 << 20);
    const payload = text("hello");
    assert.equal(writeFrame(stream, lengthPrefixed(), payload), true);
    assert.equal(writes.length, 2);
    assert.deepEqual(writes[0], bytes(0, 0, 0, 5));
    assert.equal(writes[1], payload, "the payload object itself is written");
  });

  test("delimited codecs write the payload, then the delimiter", () => {
    const { stream, writes } = recorder(1 << 20);
    const payload = text("line");
    writeFrame(stream, delimited({ delimiter: "\r\n" }), payload);
    assert.equal(writes.length, 2);
    assert.equal(writes[0], payload);
    assert.deepEqual(writes[1], text("\r\n"));
  });

  test("returns false above the high water mark", () => {
    const { stream } = recorder(10);
    assert.equal(writeFrame(stream, varint(), new Uint8Array(5)), true);
    assert.equal(writeFrame(stream, varint(), new Uint8Array(5)), false);
  });

  test("empty payloads and packets that carry their own header", () => {
    const { stream, writes } = recorder(1 << 20);
    writeFrame(stream, varint(), new Uint8Array(0));
    assert.deepEqual(writes, [bytes(0)]);
    writes.length = 0;
    const packet = bytes(4, 0, 1, 0);
    writeFrame(
      stream,
      lengthPrefixed({
        lengthFieldLength: 2,
        byteOrder: "le",
        lengthIncludesHeader: true,
        initialBytesToStrip: 0,
      }),
      packet,
    );
    assert.deepEqual(writes, [packet]);
  });

  test("a payload the codec cannot carry throws before anything is written", () => {
    const { stream, writes } = recorder(1 << 20);
    assert.throws(
      () =>
        writeFrame(
          stream,
          lengthPrefixed({ lengthFieldLength: 1 }),
          new Uint8Array(256),
        ),
      RangeError,
    );
    assert.throws(
      () => writeFrame(stream, delimited(), text("a\nb")),
      RangeError,
    );
    assert.equal(writes.length, 0);
  });
});
