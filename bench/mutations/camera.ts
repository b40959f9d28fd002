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
    file: "server/capture/capture.ts",
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
];
