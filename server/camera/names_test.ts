// Copyright 2026 the camwire authors. MIT license.
// Camera names in a /dev-like temporary folder: the videoN nodes by
// number, the by-id and by-path symlinks udev makes, resolved anew.

import assert from "node:assert/strict";
import {
  DEV_OVERRIDE_ENV,
  devFolder,
  nodeOf,
  persistentNames,
} from "./names.ts";
import { videoNodes } from "./v4l2.ts";

/** A /dev-like folder: video0, video2, video10, a by-id and a by-path link. */
async function fakeDev(): Promise<string> {
  const dev = await Deno.makeTempDir({ prefix: "camwire-dev-" });
  for (const n of [10, 0, 2]) await Deno.writeTextFile(`${dev}/video${n}`, "");
  await Deno.writeTextFile(`${dev}/videoX`, ""); // not a node name
  await Deno.mkdir(`${dev}/v4l/by-id`, { recursive: true });
  await Deno.mkdir(`${dev}/v4l/by-path`, { recursive: true });
  await Deno.symlink(
    "../../video2",
    `${dev}/v4l/by-id/usb-046d_HD_Pro_Webcam_C920_8A4DA16F-video-index0`,
  );
  await Deno.symlink(
    "../../video2",
    `${dev}/v4l/by-path/platform-xhci-hcd.0-usb-0:1:1.0-video-index0`,
  );
  return dev;
}

Deno.test("videoNodes() of a /dev-like folder: videoN by number, nothing else; none in a folder that is not there", async () => {
  const dev = await fakeDev();
  try {
    assert.deepEqual(videoNodes(dev), [
      `${dev}/video0`,
      `${dev}/video2`,
      `${dev}/video10`,
    ]);
    assert.deepEqual(videoNodes(`${dev}/nothing`), []);
  } finally {
    await Deno.remove(dev, { recursive: true });
  }
});

Deno.test("persistentNames(): the by-id name, then by-path, of a node (or of a name of it); none for a node without", async () => {
  const dev = await fakeDev();
  try {
    const byId =
      `${dev}/v4l/by-id/usb-046d_HD_Pro_Webcam_C920_8A4DA16F-video-index0`;
    const byPath =
      `${dev}/v4l/by-path/platform-xhci-hcd.0-usb-0:1:1.0-video-index0`;
    assert.deepEqual(persistentNames(`${dev}/video2`, dev), [byId, byPath]);
    assert.deepEqual(persistentNames(byId, dev), [byId, byPath]);
    assert.deepEqual(persistentNames(`${dev}/video0`, dev), []);
  } finally {
    await Deno.remove(dev, { recursive: true });
  }
});

Deno.test("nodeOf(): a name resolves to its node anew each time (a replug moves it); a dangling or missing name stays itself", async () => {
  const dev = await fakeDev();
  try {
    const byId =
      `${dev}/v4l/by-id/usb-046d_HD_Pro_Webcam_C920_8A4DA16F-video-index0`;
    assert.equal(nodeOf(byId), `${dev}/video2`);
    assert.equal(nodeOf(`${dev}/video0`), `${dev}/video0`);
    // Replugged at another number: udev points the name there.
    await Deno.remove(byId);
    await Deno.remove(`${dev}/video2`);
    assert.equal(nodeOf(byId), byId, "unplugged: the name as given");
    await Deno.symlink("../../video10", byId);
    assert.equal(nodeOf(byId), `${dev}/video10`);
    assert.equal(nodeOf(`${dev}/video7`), `${dev}/video7`);
  } finally {
    await Deno.remove(dev, { recursive: true });
  }
});

Deno.test("devFolder(): /dev, or CAMWIRE_DEV (for tests only)", () => {
  // The folder given, not this process's environment: tests running beside
  // this one in the same process read it.
  assert.equal(devFolder(""), "/dev");
  assert.equal(devFolder("/tmp/camwire-dev/"), "/tmp/camwire-dev");
  assert.equal(devFolder(Deno.env.get(DEV_OVERRIDE_ENV)), devFolder());
});
