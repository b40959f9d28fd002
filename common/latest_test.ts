// Copyright 2026 the camwire authors. MIT license.
import assert from "node:assert/strict";
import { LatestFrameSender } from "./latest.ts";
import { eventually } from "../testing/util.ts";

Deno.test("LatestFrameSender keeps one frame in flight and one pending", async () => {
  const releases: (() => void)[] = [];
  const written: number[] = [];
  const sender = new LatestFrameSender(async (bytes) => {
    written.push(bytes[0]!);
    await new Promise<void>((resolve) => releases.push(resolve));
    return bytes.length;
  }, () => {});
  for (let i = 1; i <= 100; i++) sender.offer(new Uint8Array([i]));
  assert.deepEqual(written, [1]);
  assert.equal(sender.skipped, 98);
  releases.shift()!();
  await eventually(() => written.length === 2);
  assert.deepEqual(written, [1, 100]);
  releases.shift()!();
  await eventually(() => sender.busySince === 0);
  assert.equal(sender.sent, 2);
});

Deno.test("LatestFrameSender finishes partial writes", async () => {
  const received: number[] = [];
  const sender = new LatestFrameSender((bytes) => {
    received.push(...bytes.subarray(0, 3)); // a socket that takes 3 bytes a call
    return Promise.resolve(Math.min(3, bytes.length));
  }, () => {});
  sender.offer(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
  await eventually(() => sender.sent === 1);
  assert.deepEqual(received, [1, 2, 3, 4, 5, 6, 7, 8]);
});

Deno.test("LatestFrameSender reports a failed write once and stops", async () => {
  const errors: unknown[] = [];
  let calls = 0;
  const sender = new LatestFrameSender(() => {
    calls++;
    return Promise.reject(new Deno.errors.BrokenPipe("gone"));
  }, (error) => errors.push(error));
  sender.offer(new Uint8Array([1]));
  await eventually(() => errors.length === 1);
  sender.offer(new Uint8Array([2]));
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(calls, 1);
  assert.equal(errors.length, 1);
});
