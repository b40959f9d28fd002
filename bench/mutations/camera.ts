// Copyright 2026 the camwire authors. MIT license.
/**
 * Mutations of the camera: V4L2 shapes, the mode choice, damaged frames,
 * controls (see bench/mutants.ts).
 *
 * @module
 */

import type { Mutation } from "./mutation.ts";

/** Mutations of the camera. */
export const CAMERA: Mutation[] = [
  {
    name: "v4l2: a multi-planar node driven as single-planar",
    file: "server/camera/v4l2.ts",
    from: "this.#multiplanar = multi && !single;",
    to: "this.#multiplanar = false;",
    tests: ["e2e/camera_shapes_test.ts"],
    filter: "multi-planar camera's MJPEG",
  },
  {
    name: "v4l2: only the first plane of a multi-planar frame copied out",
    file: "server/camera/v4l2.ts",
    from: "if (parts.length === 1) return parts[0]!.slice();",
    to: "return parts[0]!.slice();",
    tests: ["e2e/camera_shapes_test.ts"],
    filter: "NV12",
  },
  {
    name: "v4l2: the whole device's capabilities, not the node's device_caps",
    file: "server/camera/v4l2.ts",
    from: "if (caps & ABI.V4L2_CAP_DEVICE_CAPS) {",
    to: "if (caps & 0) {",
    tests: ["server/camera/v4l2_shapes_test.ts"],
    filter: "metadata",
  },
  {
    name: "mode: a range of sizes offers only its largest (ffmpeg scales it)",
    file: "server/camera/mode.ts",
    from: "if (m.sizes === undefined) return [m];",
    to: "return [m];",
    tests: ["e2e/camera_shapes_test.ts"],
    filter: "bcm2835",
  },
  {
    name: "mode: a range of rates gives its fastest, not --fps",
    file: "server/camera/mode.ts",
    from:
      "const rate = Math.min(Math.max(fps, mode.rates.min), mode.rates.max);",
    to: "const rate = mode.rates.max;",
    tests: ["e2e/camera_shapes_test.ts"],
    filter: "frame intervals",
  },
  {
    name: "camera: frames the driver flags damaged passed on",
    file: "server/camera/capture.ts",
    from: "if (frame.damaged) {",
    to: "if (frame.damaged && false) {",
    tests: ["e2e/camera_shapes_test.ts"],
    filter: "damaged",
  },
  {
    name: "camera: the first dropped frame logged only 10 s after the start",
    file: "server/camera/capture.ts",
    from: "#droppedLoggedAt = -Infinity;",
    to: "#droppedLoggedAt = 0;",
    tests: ["e2e/camera_shapes_test.ts"],
    filter: "damaged",
  },
  {
    name: "controls: disabled controls listed",
    file: "server/camera/v4l2_controls.ts",
    from:
      "type === undefined || (found.flags & ABI.V4L2_CTRL_FLAG_DISABLED) !== 0",
    to: "type === undefined",
    tests: ["e2e/camera_controls_test.ts"],
    filter: "--list-devices",
  },
  {
    name: "controls: no QUERYCTRL where QUERY_EXT_CTRL is missing",
    file: "server/camera/v4l2_controls.ts",
    from: 'if (found === "ENOTTY" && extended) {',
    to: "if (false) {",
    tests: ["server/camera/v4l2_shapes_test.ts"],
    filter: "controls",
  },
  {
    name: "controls: the names before Linux 5.16 not taken",
    file: "server/camera/v4l2_controls.ts",
    from: "const id = CONTROL_ALIASES[name];",
    to: "const id = undefined;",
    tests: ["e2e/camera_controls_test.ts"],
    filter: "--control sets",
  },
  {
    name: "controls: --control not set after the mode",
    file: "server/camera/capture.ts",
    from:
      "applyControls(device, this.#options.controls ?? [], this.#options.log);",
    to: "",
    tests: ["e2e/camera_controls_test.ts"],
    filter: "--control sets",
  },
  {
    name: "controls: a value out of range not refused",
    file: "server/camera/controls.ts",
    from: "if (!fits) {",
    to: "if (false) {",
    tests: ["e2e/camera_controls_test.ts"],
    filter: "one line",
  },
  {
    name: "controls: POST /controls allowed without --token",
    file: "server/http/controls.ts",
    from: "if (!request.tokenGiven) {",
    to: "if (false) {",
    tests: ["e2e/camera_controls_test.ts"],
    filter: "without --token",
  },
  {
    name: "controls: POST /controls from another site's page allowed",
    file: "server/http/controls.ts",
    from: "request.origin !== null && request.origin !== own &&",
    to: "false &&",
    tests: ["e2e/camera_controls_test.ts"],
    filter: "GET /controls reads",
  },
  {
    name: "by-id: the name resolved once at start, not at each reopen",
    file: "server/camera/camera.ts",
    from: "const now = nodeOf(device);",
    to: "const now = node;",
    tests: ["server/camera/device_server_test.ts"],
    filter: "replugged",
  },
  {
    name: "by-id: --list-devices without the name beside the node",
    file: "server/camera/camera.ts",
    from: "const [name] = node === path ? persistentNames(node) : [node];",
    to: "const name = undefined as string | undefined;",
    tests: ["server/camera/device_server_test.ts"],
    filter: "list-devices",
  },
  {
    name: "explicit: a missing --device streams the test pattern",
    file: "server/capture/source.ts",
    from: 'if (source === "camera" || (source === "auto" && named)) {',
    to: 'if (source === "camera") {',
    tests: ["server/camera/device_server_test.ts"],
    filter: "not there|busy",
  },
  {
    name: "explicit: the error does not say which cameras there are",
    file: "server/camera/camera.ts",
    from: 'return found.length === 0 ? "none" : found.join(", ");',
    to: 'return "none";',
    tests: ["server/camera/device_server_test.ts"],
    filter: "not there",
  },
  {
    name:
      "gone at start: ENODEV under auto falls back to ffmpeg (please report)",
    file: "server/camera/camera.ts",
    from: 'if (error.unavailable || capture === "v4l2") {',
    to: 'if (capture === "v4l2") {',
    tests: ["server/camera/device_server_test.ts"],
    filter: "gone at start",
  },
  {
    name: "rpicam: its JPEGs re-encoded by ffmpeg instead of passed through",
    file: "server/camera/rpicam.ts",
    from: "const passthrough = own !== undefined && relays.length === 0;",
    to: "const passthrough = false;",
    tests: ["server/camera/rpicam_server_test.ts"],
    filter: "passed through",
  },
  {
    name: "rpicam: --rotate 180 and --flip left to ffmpeg",
    file: "server/camera/rpicam.ts",
    from:
      "if ((rotate !== 0 && rotate !== 180) || picture?.overlay !== undefined) {",
    to:
      "if (rotate !== 0 || picture?.flip !== undefined || picture?.overlay !== undefined) {",
    tests: ["server/camera/rpicam_server_test.ts"],
    filter: "rotate 180",
  },
  {
    name: "rpicam: the height at 4:3 whatever the sensor's aspect",
    file: "server/camera/rpicam.ts",
    from:
      "return Math.max(2, Math.round(width * sensor.height / sensor.width / 2) * 2);",
    to: "return Math.round(width * 3 / 4 / 2) * 2;",
    tests: ["server/camera/rpicam_server_test.ts"],
    filter: "imx708",
  },
  {
    name: "auto: the unicam node read through V4L2, not rpicam-vid",
    file: "server/camera/camera.ts",
    from: "piCameraWhy = what;",
    to: "",
    tests: ["server/camera/rpicam_server_test.ts"],
    filter: "unicam",
  },
  {
    name: "auto: no /dev/video node never asks rpicam-vid",
    file: "server.ts",
    from: "    findRpicam() !== undefined",
    to: "    findRpicam() === null",
    tests: ["server/camera/rpicam_server_test.ts"],
    filter: "no /dev/video node",
  },
  {
    name:
      "device_caps: a metadata node not told apart before the mode is chosen",
    file: "server/camera/camera.ts",
    from: "if (notCamera === undefined) {",
    to: "if (true) {",
    tests: ["server/camera/device_server_test.ts"],
    filter: "metadata node",
  },
];
