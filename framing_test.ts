// Copyright 2026 the camwire authors. MIT license.
import assert from "node:assert/strict";
import {
  concatBytes,
  Deframer,
  encodeFrame,
  encodeHeader,
  FramingError,
  HEADER_SIZE,
  JpegSplitter,
} from "./framing.ts";
import { fakeJpeg, realisticJpeg, thumbnailJpeg } from "./testing/jpegs.ts";

Deno.test("encodeHeader() writes a u64 little-endian length", () => {
  assert.deepEqual(encodeHeader(0), new Uint8Array(8));
  assert.deepEqual(
    encodeHeader(0x0102030405),
    new Uint8Array([5, 4, 3, 2, 1, 0, 0, 0]),
  );
  assert.deepEqual(
    encodeHeader(Number.MAX_SAFE_INTEGER),
    new Uint8Array([255, 255, 255, 255, 255, 255, 31, 0]),
  );
  assert.throws(() => encodeHeader(-1), RangeError);
  assert.throws(() => encodeHeader(1.5), RangeError);
});

Deno.test("encodeFrame() matches Python's struct.pack('<Q') + payload", () => {
  const jpeg = fakeJpeg(300, 1);
  const frame = encodeFrame(jpeg);
  assert.equal(frame.length, HEADER_SIZE + 300);
  assert.equal(
    new DataView(frame.buffer).getBigUint64(0, true),
    300n,
  );
  assert.deepEqual(frame.subarray(HEADER_SIZE), jpeg);
});

Deno.test("Deframer round-trips frames pushed whole", () => {
  const jpegs = [fakeJpeg(4, 0), fakeJpeg(100, 1), fakeJpeg(70_000, 2)];
  const deframer = new Deframer();
  for (const jpeg of jpegs) {
    assert.deepEqual(deframer.push(encodeFrame(jpeg)), [jpeg]);
  }
  assert.equal(deframer.buffered, 0);
  deframer.finish();
});

Deno.test("Deframer returns many frames from one chunk", () => {
  const jpegs = Array.from({ length: 50 }, (_, i) => fakeJpeg(20 + i, i));
  const wire = concatBytes(jpegs.map(encodeFrame));
  assert.deepEqual(new Deframer().push(wire), jpegs);
});

Deno.test("Deframer returns a frame inside one chunk as a view, not a copy", () => {
  const wire = encodeFrame(fakeJpeg(64, 3));
  const [frame] = new Deframer().push(wire);
  assert.equal(frame!.buffer, wire.buffer);
  assert.equal(frame!.byteOffset, HEADER_SIZE);
});

Deno.test("Deframer handles a split at every byte offset", () => {
  const jpegs = [fakeJpeg(30, 1), fakeJpeg(4, 2), fakeJpeg(45, 3)];
  const wire = concatBytes(jpegs.map(encodeFrame));
  for (let a = 0; a <= wire.length; a++) {
    for (let b = a; b <= wire.length; b += 7) {
      const deframer = new Deframer();
      const out = [
        ...deframer.push(wire.slice(0, a)),
        ...deframer.push(wire.slice(a, b)),
        ...deframer.push(wire.slice(b)),
      ];
      assert.deepEqual(out, jpegs, `split at ${a} and ${b}`);
      deframer.finish();
    }
  }
});

Deno.test("Deframer handles one byte at a time", () => {
  const jpegs = [fakeJpeg(30, 1), fakeJpeg(9, 2)];
  const wire = concatBytes(jpegs.map(encodeFrame));
  const deframer = new Deframer();
  const out = [];
  for (const byte of wire) out.push(...deframer.push(new Uint8Array([byte])));
  assert.deepEqual(out, jpegs);
});

Deno.test("Deframer rejects bad lengths from the header alone", async (t) => {
  await t.step("zero length", () => {
    assertFramingError(
      () => new Deframer().push(encodeHeader(0)),
      "zero-length",
      "Frame length 0 is not allowed",
    );
  });
  await t.step("u64 max exceeds the default 16 MiB limit", () => {
    assertFramingError(
      () => new Deframer().push(new Uint8Array(8).fill(0xff)),
      "too-large",
      "Frame length 18446744073709551615 exceeds the 16 MiB limit",
    );
  });
  await t.step("one byte above a configured limit", () => {
    const deframer = new Deframer({ maxFrameSize: 1000 });
    assertFramingError(
      () => deframer.push(encodeHeader(1001)),
      "too-large",
      "Frame length 1001 exceeds the 1000 bytes limit",
    );
  });
  await t.step("a limit-sized frame passes", () => {
    const jpeg = fakeJpeg(1000, 4);
    const deframer = new Deframer({ maxFrameSize: 1000 });
    assert.deepEqual(deframer.push(encodeFrame(jpeg)), [jpeg]);
  });
  await t.step("header split before the bad byte", () => {
    const deframer = new Deframer();
    const header = new Uint8Array(8).fill(0xff);
    assert.deepEqual(deframer.push(header.slice(0, 7)), []);
    assert.throws(() => deframer.push(header.slice(7)), FramingError);
  });
  await t.step("maxFrameSize must be sane", () => {
    assert.throws(() => new Deframer({ maxFrameSize: 0 }), RangeError);
  });
});

Deno.test("Deframer rejects payloads that are not JPEGs", async (t) => {
  await t.step("wrong start, whole", () => {
    const bad = fakeJpeg(20, 1);
    bad[0] = 0x89;
    assertFramingError(
      () => new Deframer().push(encodeFrame(bad)),
      "not-jpeg",
      "Frame payload is not a JPEG: it does not start with SOI",
    );
  });
  await t.step("wrong start, seen before the rest arrives", () => {
    const bad = encodeFrame(new TextEncoder().encode("HTTP/1.1 200 OK....."));
    assertFramingError(
      () => new Deframer().push(bad.subarray(0, HEADER_SIZE + 3)),
      "not-jpeg",
      "Frame payload is not a JPEG: it does not start with SOI",
    );
  });
  await t.step("wrong end", () => {
    const bad = fakeJpeg(20, 1);
    bad[19] = 0;
    assertFramingError(
      () => new Deframer().push(encodeFrame(bad)),
      "not-jpeg",
      "Frame payload is not a JPEG: it does not end with EOI",
    );
  });
  await t.step("too short to be a JPEG", () => {
    assertFramingError(
      () => new Deframer().push(encodeFrame(new Uint8Array([0xff, 0xd8]))),
      "not-jpeg",
    );
  });
});

Deno.test("Deframer.finish() reports a stream cut mid-frame", async (t) => {
  const wire = encodeFrame(fakeJpeg(40, 1));
  await t.step("inside the header", () => {
    const deframer = new Deframer();
    deframer.push(wire.subarray(0, 3));
    assertFramingError(
      () => deframer.finish(),
      "truncated",
      "Stream ended inside a frame header (3 of 8 bytes)",
    );
  });
  await t.step("inside the payload", () => {
    const deframer = new Deframer();
    deframer.push(wire.subarray(0, 20));
    assertFramingError(
      () => deframer.finish(),
      "truncated",
      "Stream ended inside a frame (12 of 40 bytes)",
    );
  });
  await t.step("at a frame boundary is fine", () => {
    const deframer = new Deframer();
    deframer.push(wire);
    deframer.finish();
  });
});

Deno.test("Deframer copies the part of a frame it keeps: a tiny read does not pin its buffer", () => {
  const jpeg = realisticJpeg(7, 2000);
  const wire = encodeFrame(jpeg);
  const deframer = new Deframer();
  // Each piece is one byte of its own 64 KiB read buffer, as a peer that
  // sends a byte per packet makes them; the reader then reuses the buffer.
  const frames: Uint8Array[] = [];
  for (let i = 0; i < wire.length; i++) {
    const buffer = new Uint8Array(64 * 1024);
    buffer[100] = wire[i]!;
    frames.push(...deframer.push(buffer.subarray(100, 101)));
    buffer.fill(0xaa); // a view kept of it would now read 0xaa
  }
  assert.equal(frames.length, 1);
  assert.deepEqual(frames[0], jpeg);
});

Deno.test("Deframer holds no more than the frame it collects, whatever the header claims", () => {
  const deframer = new Deframer({ maxFrameSize: 16 * 1024 * 1024 });
  deframer.push(encodeHeader(16 * 1024 * 1024));
  deframer.push(new Uint8Array([0xff, 0xd8, 1]));
  for (let i = 0; i < 1000; i++) deframer.push(new Uint8Array([i & 0x7f]));
  assert.equal(deframer.buffered, 1003);
});

Deno.test("Deframer hands over the whole frames before a broken one, then fails", () => {
  const good = realisticJpeg(1);
  const bad = new Uint8Array([1, 2, 3, 4]);
  const deframer = new Deframer();
  const chunk = concatBytes([
    encodeFrame(good),
    encodeFrame(good),
    encodeFrame(bad),
  ]);
  assert.deepEqual(deframer.push(chunk), [good, good]);
  assert.throws(() => deframer.push(new Uint8Array(0)), FramingError);
  assert.throws(() => deframer.finish(), FramingError);
});

Deno.test("JpegSplitter keeps every restart marker RST0-RST7 inside entropy data", () => {
  // 600 bytes of entropy data carry a restart marker every 64 bytes: RST0
  // to RST7 and round again.
  const jpegs = [realisticJpeg(3, 600), realisticJpeg(4, 600)];
  for (let rst = 0xd0; rst <= 0xd7; rst++) {
    assert.ok(
      hasMarker(jpegs[0]!, rst),
      `no RST${rst - 0xd0} in the test JPEG`,
    );
  }
  const stream = concatBytes(jpegs);
  for (const size of [1, 7, 64, stream.length]) {
    const splitter = new JpegSplitter();
    const frames: Uint8Array[] = [];
    for (let i = 0; i < stream.length; i += size) {
      frames.push(...splitter.push(stream.slice(i, i + size)));
    }
    assert.deepEqual(frames, jpegs, `in chunks of ${size}`);
  }
});

/** Whether FF `code` stands in the bytes. */
function hasMarker(bytes: Uint8Array, code: number): boolean {
  for (let i = 0; i + 1 < bytes.length; i++) {
    if (bytes[i] === 0xff && bytes[i + 1] === code) return true;
  }
  return false;
}

Deno.test("JpegSplitter cuts back-to-back JPEGs", () => {
  const jpegs = [realisticJpeg(1), realisticJpeg(2), realisticJpeg(3)];
  const splitter = new JpegSplitter();
  assert.deepEqual(splitter.push(concatBytes(jpegs)), jpegs);
  assert.equal(splitter.buffered, 0);
  assert.equal(splitter.skippedBytes, 0);
});

Deno.test("JpegSplitter returns a frame inside one chunk as a view", () => {
  const stream = concatBytes([realisticJpeg(1), realisticJpeg(2)]);
  const frames = new JpegSplitter().push(stream);
  assert.equal(frames[1]!.buffer, stream.buffer);
});

Deno.test("JpegSplitter handles a split at every byte offset", () => {
  const jpegs = [thumbnailJpeg(), realisticJpeg(5), realisticJpeg(6)];
  const stream = concatBytes(jpegs);
  for (let a = 0; a <= stream.length; a++) {
    const splitter = new JpegSplitter();
    const out = [
      ...splitter.push(stream.slice(0, a)),
      ...splitter.push(stream.slice(a)),
    ];
    assert.deepEqual(out, jpegs, `split at ${a}`);
  }
});

Deno.test("JpegSplitter handles one byte at a time", () => {
  const jpegs = [thumbnailJpeg(), realisticJpeg(7)];
  const splitter = new JpegSplitter();
  const out = [];
  for (const byte of concatBytes(jpegs)) {
    out.push(...splitter.push(new Uint8Array([byte])));
  }
  assert.deepEqual(out, jpegs);
});

Deno.test("JpegSplitter is not fooled by an EXIF thumbnail's EOI", () => {
  const jpeg = thumbnailJpeg();
  const frames = new JpegSplitter().push(jpeg);
  assert.equal(frames.length, 1);
  assert.equal(frames[0]!.length, jpeg.length);
});

Deno.test("JpegSplitter skips garbage before and between frames", () => {
  const jpeg = realisticJpeg(1);
  const garbage = new Uint8Array([0, 0xff, 0xff, 0x12, 0xff, 0xd9, 7]);
  const splitter = new JpegSplitter();
  const out = splitter.push(concatBytes([garbage, jpeg, garbage, jpeg]));
  assert.deepEqual(out, [jpeg, jpeg]);
  assert.equal(splitter.skippedBytes, 2 * garbage.length);
  assert.equal(splitter.droppedFrames, 0);
});

Deno.test("JpegSplitter drops a frame cut short by a new SOI", () => {
  const jpeg = realisticJpeg(1);
  const cut = jpeg.subarray(0, jpeg.length - 20); // ends in entropy data
  for (let a = 0; a <= cut.length + jpeg.length; a++) {
    const stream = concatBytes([cut, jpeg]);
    const splitter = new JpegSplitter();
    const out = [
      ...splitter.push(stream.slice(0, a)),
      ...splitter.push(stream.slice(a)),
    ];
    assert.deepEqual(out, [jpeg], `split at ${a}`);
    assert.equal(splitter.droppedFrames, 1);
    assert.equal(splitter.skippedBytes, cut.length);
  }
});

Deno.test("JpegSplitter drops a frame above the size limit", () => {
  const small = realisticJpeg(1);
  const big = realisticJpeg(2, 5000);
  const splitter = new JpegSplitter({ maxFrameSize: 1000 });
  const out = splitter.push(concatBytes([small, big, small]));
  assert.deepEqual(out, [small, small]);
  assert.equal(splitter.droppedFrames, 1);
  assert.ok(splitter.buffered <= 1000);
});

Deno.test("JpegSplitter keeps a truncated last frame buffered", () => {
  const jpeg = realisticJpeg(1);
  const splitter = new JpegSplitter();
  assert.deepEqual(splitter.push(jpeg.subarray(0, jpeg.length - 1)), []);
  assert.equal(splitter.buffered, jpeg.length - 1);
  assert.deepEqual(splitter.push(jpeg.subarray(jpeg.length - 1)), [jpeg]);
});

function assertFramingError(
  fn: () => unknown,
  code: string,
  message?: string,
): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof FramingError, `not a FramingError: ${error}`);
    assert.equal(error.code, code);
    if (message !== undefined) assert.equal(error.message, message);
    return true;
  });
}

Deno.test("Deframer with anyPayload takes payloads that are not JPEGs, split anywhere, and keeps the length rules", () => {
  const payloads = [
    new Uint8Array([0x80, 3, 0x4e, 0x2e]),
    new Uint8Array(300).fill(7),
    new Uint8Array([0xff, 0xd8, 0xff, 0xd9]),
  ];
  const wire = concatBytes(payloads.map(encodeFrame));
  for (let split = 0; split <= wire.length; split++) {
    const deframer = new Deframer({ anyPayload: true });
    const got = [
      ...deframer.push(wire.slice(0, split)),
      ...deframer.push(wire.slice(split)),
    ];
    assert.deepEqual(got, payloads, `split at ${split}`);
    deframer.finish();
  }
  const strict = new Deframer();
  assert.throws(() => strict.push(encodeFrame(payloads[0]!)), FramingError);
  const small = new Deframer({ anyPayload: true, maxFrameSize: 100 });
  assert.throws(
    () => small.push(encodeFrame(payloads[1]!)),
    (error: unknown) =>
      error instanceof FramingError && error.code === "too-large",
  );
  assert.throws(
    () => new Deframer({ anyPayload: true }).push(encodeHeader(0)),
    (error: unknown) =>
      error instanceof FramingError && error.code === "zero-length",
  );
  const cut = new Deframer({ anyPayload: true });
  cut.push(encodeFrame(payloads[1]!).subarray(0, 20));
  assert.throws(() => cut.finish(), FramingError);
});
