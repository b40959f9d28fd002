// Copyright 2026 the camwire authors. MIT license.
/** In-process tests of {@linkcode BgrDecoder} without ffmpeg. */
import assert from "node:assert/strict";
import { BgrDecoder } from "./decoder.ts";

/** SOI, a SOF0 of 320×240, EOI: enough for its size to be read. */
const JPEG = new Uint8Array([
  ...[0xff, 0xd8, 0xff, 0xc0, 0x00, 0x0b, 0x08, 0x00, 0xf0, 0x01, 0x40],
  ...[0x01, 0x01, 0x11, 0x00, 0xff, 0xd9],
]);

Deno.test("BgrDecoder: an ffmpeg that cannot start is one log line, show() never throws, and it is tried at most once a second", async () => {
  const lines: string[] = [];
  const decoder = new BgrDecoder({
    ffmpeg: "/nonexistent/ffmpeg",
    onFrame: () => assert.fail("no frame without ffmpeg"),
    log: (line) => lines.push(line),
  });
  for (let i = 0; i < 30; i++) decoder.show(JPEG);
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /cannot start the pickle decoder: ffmpeg not found/);
  await decoder.close();
});
