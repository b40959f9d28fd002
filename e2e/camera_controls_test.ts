// Copyright 2026 the camwire authors. MIT license.
// Camera controls end to end: the real server.ts against the emulated
// camera (CAMWIRE_LIBC, for tests only: no V4L2 exists in this kernel, no
// camera here) with a UVC webcam's controls under the names of Linux 5.16
// and later, or of before: --list-devices, --control (either name), its
// one-line errors, and GET and POST /controls with and without the token.

import assert from "node:assert/strict";
import { runScript, startServerProcess } from "../testing/util.ts";
import { FakeCameras } from "../testing/fake_camera.ts";
import { webBase } from "../testing/http_client.ts";
import { uvcControls } from "../testing/fake_camera_presets.ts";

const MJPEG_320 = { fourcc: "MJPG", width: 320, height: 240, fps: 30 };

/** The control's value in a `GET /controls` answer. */
function valueOf(
  body: { controls: { name: string; value: number }[] },
  name: string,
) {
  return body.controls.find((c) => c.name === name)?.value;
}

Deno.test("e2e: --list-devices lists each control with its range and current value, by v4l2-ctl's names", async () => {
  await using cameras = await FakeCameras.create();
  const device = await cameras.device({
    card: "HD Webcam C270",
    modes: [MJPEG_320],
    controls: uvcControls("new"),
  });
  const out = await runScript(
    "server.ts",
    ["--list-devices", "--device", device],
    { CAMWIRE_LIBC: cameras.library },
  );
  assert.equal(out.code, 0, out.stderr);
  assert.equal(
    new TextDecoder().decode(out.stdout),
    `${device} "HD Webcam C270" (fakecam, platform:fakecam)\n` +
      "  MJPEG 320x240 (30, 15 fps)\n" +
      "  controls:\n" +
      "    brightness = 0 (-64–64, default 0)\n" +
      "    contrast = 32 (0–64, default 32)\n" +
      "    white_balance_automatic = 1 (0 or 1, default 1)\n" +
      "    power_line_frequency = 1 (0 Disabled, 1 50 Hz, 2 60 Hz, default 1)\n" +
      "    white_balance_temperature = 4600 (2800–6500 step 10, default 4600, inactive)\n" +
      "    auto_exposure = 3 (1 Manual Mode, 3 Aperture Priority Mode, default 3)\n" +
      "    exposure_time_absolute = 250 (3–2047, default 250, inactive)\n" +
      "    focus_automatic_continuous = 1 (0 or 1, default 1)\n",
  );
});

Deno.test("e2e: --control sets controls after the mode, by today's names and by the names before Linux 5.16, either way round", async () => {
  await using cameras = await FakeCameras.create();
  for (const names of ["new", "old"] as const) {
    const device = await cameras.device({
      modes: [MJPEG_320],
      controls: uvcControls(names),
    });
    const server = await startServerProcess(
      [
        ...["--device", device, "--http-port", "0", "--token", "s3cret"],
        ...[
          "--control",
          "brightness=-10",
          "--control",
          "power_line_frequency=2",
        ],
        // The other kernel's names for the same controls:
        ...(names === "new"
          ? ["--control", "exposure_auto=1", "--control", "focus_auto=0"]
          : [
            "--control",
            "auto_exposure=1",
            "--control",
            "focus_automatic_continuous=0",
          ]),
      ],
      { CAMWIRE_LIBC: cameras.library },
    );
    try {
      const base = await webBase(server);
      const response = await fetch(`${base}/controls?token=s3cret`);
      assert.equal(response.status, 200);
      const body = await response.json();
      assert.equal(valueOf(body, "brightness"), -10, names);
      assert.equal(valueOf(body, "power_line_frequency"), 2);
      const exposure = names === "new" ? "auto_exposure" : "exposure_auto";
      const focus = names === "new"
        ? "focus_automatic_continuous"
        : "focus_auto";
      assert.equal(valueOf(body, exposure), 1, `${names}: ${exposure}`);
      assert.equal(valueOf(body, focus), 0);
      assert.equal(
        valueOf(body, "contrast"),
        32,
        "the others left as they were",
      );
    } finally {
      assert.equal(await server.stop(), 0);
    }
  }
});

Deno.test("e2e: a --control the camera has not, or a value it does not take, is one line saying what it has, and exit 1", async () => {
  await using cameras = await FakeCameras.create();
  const device = await cameras.device({
    modes: [MJPEG_320],
    controls: uvcControls("new"),
  });
  const env = { CAMWIRE_LIBC: cameras.library };
  const cases: [string, RegExp][] = [
    [
      "zoom_absolute=3",
      /^camwire: --control zoom_absolute=3: the camera has no control "zoom_absolute"; it has: brightness \(-64–64\), contrast \(0–64\), white_balance_automatic \(0 or 1\), power_line_frequency \(0 Disabled, 1 50 Hz, 2 60 Hz\), .*focus_automatic_continuous \(0 or 1\)$/,
    ],
    [
      "brightness=99",
      /^camwire: --control brightness=99: brightness takes -64–64$/,
    ],
    [
      "auto_exposure=2",
      /^camwire: --control auto_exposure=2: auto_exposure takes 1 Manual Mode, 3 Aperture Priority Mode$/,
    ],
  ];
  for (const [control, expected] of cases) {
    const out = await runScript(
      "server.ts",
      ["--device", device, "--port", "0", "--control", control],
      env,
    );
    assert.equal(out.code, 1, control);
    const errors = out.stderr.trim().split("\n").filter((l) =>
      /--control/.test(l)
    );
    assert.equal(errors.length, 1, out.stderr);
    assert.match(errors[0]!, expected);
  }
  const syntax = await runScript(
    "server.ts",
    ["--device", device, "--control", "brightness"],
    env,
  );
  assert.equal(syntax.code, 2);
  assert.match(
    syntax.stderr,
    /Invalid value for --control: "brightness" is not NAME=VALUE/,
  );
});

Deno.test("e2e: GET /controls reads the camera's controls; POST /controls changes them only with the token, never cross-site, and says why not", async () => {
  await using cameras = await FakeCameras.create();
  const device = await cameras.device({
    modes: [MJPEG_320],
    controls: uvcControls("new"),
  });
  const server = await startServerProcess(
    ["--device", device, "--http-port", "0", "--token", "s3cret"],
    { CAMWIRE_LIBC: cameras.library },
  );
  try {
    const base = await webBase(server);
    const auth = { authorization: "Bearer s3cret" };
    // No token: neither read nor changed.
    const anonymous = await fetch(`${base}/controls`);
    assert.equal(anonymous.status, 401);
    await anonymous.body?.cancel();
    const refused = await fetch(`${base}/controls?brightness=5`, {
      method: "POST",
    });
    assert.equal(refused.status, 401);
    await refused.body?.cancel();
    // With it: read, changed, read back.
    const listed = await (await fetch(`${base}/controls`, { headers: auth }))
      .json();
    assert.equal(valueOf(listed, "brightness"), 0);
    const power = listed.controls.find((c: { name: string }) =>
      c.name === "power_line_frequency"
    );
    assert.deepEqual(power.menu, { 0: "Disabled", 1: "50 Hz", 2: "60 Hz" });
    const changed = await fetch(
      `${base}/controls?brightness=40&exposure_auto=1`,
      { method: "POST", headers: auth },
    );
    assert.equal(changed.status, 200);
    const after = await changed.json();
    assert.equal(valueOf(after, "brightness"), 40);
    assert.equal(valueOf(after, "auto_exposure"), 1);
    const again = await (await fetch(`${base}/controls`, { headers: auth }))
      .json();
    assert.equal(valueOf(again, "brightness"), 40, "the camera kept it");
    // A wrong value: 400 with the one line, nothing changed.
    const wrong = await fetch(`${base}/controls?contrast=10&brightness=99`, {
      method: "POST",
      headers: auth,
    });
    assert.equal(wrong.status, 400);
    assert.deepEqual(await wrong.json(), {
      error: "brightness=99: brightness takes -64–64",
    });
    const unchanged = await (await fetch(`${base}/controls`, { headers: auth }))
      .json();
    assert.equal(
      valueOf(unchanged, "contrast"),
      32,
      "checked before any is set",
    );
    // A page of another site, even with the browser's remembered auth.
    const crossSite = await fetch(`${base}/controls?brightness=1`, {
      method: "POST",
      headers: { ...auth, origin: "http://evil.example" },
    });
    assert.equal(crossSite.status, 403);
    await crossSite.body?.cancel();
    const still = await (await fetch(`${base}/controls`, { headers: auth }))
      .json();
    assert.equal(valueOf(still, "brightness"), 40);
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

Deno.test("e2e: without --token, GET /controls is open like the stream, and POST /controls is refused, even from 127.0.0.1", async () => {
  await using cameras = await FakeCameras.create();
  const device = await cameras.device({
    modes: [MJPEG_320],
    controls: uvcControls("new"),
  });
  const server = await startServerProcess(
    ["--device", device, "--http-port", "0"],
    { CAMWIRE_LIBC: cameras.library },
  );
  try {
    const base = await webBase(server);
    const listed = await fetch(`${base}/controls`);
    assert.equal(listed.status, 200);
    assert.equal(valueOf(await listed.json(), "brightness"), 0);
    const post = await fetch(`${base}/controls?brightness=5`, {
      method: "POST",
    });
    assert.equal(post.status, 403);
    assert.match((await post.json()).error, /needs --token/);
    const after = await (await fetch(`${base}/controls`)).json();
    assert.equal(valueOf(after, "brightness"), 0, "nothing changed");
  } finally {
    assert.equal(await server.stop(), 0);
  }
});
