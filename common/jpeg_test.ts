// Copyright 2026 the camwire authors. MIT license.
import assert from "node:assert/strict";
import { Deframer, JpegSplitter } from "../framing.ts";
import { jpegSize, readStamp, stampableBuffer, stampFrame } from "./jpeg.ts";
import { fakeJpeg, realisticJpeg } from "../testing/jpegs.ts";

Deno.test("stampFrame() keeps a valid JPEG and readStamp() reads it back", () => {
  const jpeg = realisticJpeg(3);
  const frame = stampFrame(jpeg, 1764086400123.456);
  const [payload] = new Deframer().push(frame);
  assert.equal(readStamp(payload!), 1764086400123.456);
  // The stamped JPEG still splits as one JPEG with the same picture data.
  assert.deepEqual(new JpegSplitter().push(payload!), [payload]);
  assert.deepEqual(
    payload!.subarray(payload!.length - jpeg.length + 2),
    jpeg.subarray(2),
  );
  assert.equal(readStamp(jpeg), undefined);
});

Deno.test("jpegSize() reads SOF0 and ignores DHT", () => {
  assert.deepEqual(jpegSize(realisticJpeg(1)), { width: 320, height: 180 });
  assert.equal(jpegSize(fakeJpeg(10, 1)), undefined);
});

Deno.test("stampFrame() stamps a stampableBuffer() in place, byte for byte as it stamps a copy", () => {
  const jpeg = realisticJpeg(5);
  const roomy = stampableBuffer(jpeg.length);
  roomy.set(jpeg);
  const copied = stampFrame(jpeg, 1764086400123.456);
  const inPlace = stampFrame(roomy, 1764086400123.456);
  assert.equal(inPlace.buffer, roomy.buffer, "no copy");
  assert.deepEqual(inPlace, copied);
  // A view that does not start where the room ends is copied, intact.
  const other = stampableBuffer(jpeg.length + 1);
  other.set(jpeg, 1);
  const view = other.subarray(1);
  assert.notEqual(stampFrame(view, 1764086400123.456).buffer, other.buffer);
  assert.deepEqual(view, jpeg);
});
