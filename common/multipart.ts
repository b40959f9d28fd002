// Copyright 2026 the camwire authors. MIT license.
/**
 * The one multipart part builder: a JPEG as a part of
 * `multipart/x-mixed-replace` (HTTP `/stream.mjpg`) or of ffmpeg's
 * `mpjpeg` input (recordings, the pickle decoder), whose Content-Length
 * lets a reader take each part whole.
 *
 * @module
 */

/**
 * One JPEG as a multipart part, in one buffer (one write per frame).
 *
 * @param jpeg The frame.
 * @param boundary The boundary, without its leading `--` (ASCII).
 * @returns `--boundary`, headers with its length, the JPEG, CRLF.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const part = new TextDecoder().decode(multipartPart(new Uint8Array(3), "b"));
 * assert.equal(part, "--b\r\nContent-Type: image/jpeg\r\nContent-Length: 3\r\n\r\n\0\0\0\r\n");
 * ```
 */
export function multipartPart(
  jpeg: Uint8Array,
  boundary: string,
): Uint8Array<ArrayBuffer> {
  // ASCII written byte by byte: no TextEncoder call and buffer per frame.
  const head = `--${boundary}\r\nContent-Type: image/jpeg\r\n` +
    `Content-Length: ${jpeg.length}\r\n\r\n`;
  const part = new Uint8Array(head.length + jpeg.length + 2);
  for (let i = 0; i < head.length; i++) part[i] = head.charCodeAt(i);
  part.set(jpeg, head.length);
  part[head.length + jpeg.length] = 13;
  part[head.length + jpeg.length + 1] = 10;
  return part;
}
