// Copyright 2026 the camwire authors. MIT license.
/**
 * Camera controls for people: `--control NAME=VALUE` read and checked
 * against what the camera has (a wrong name or value is one line that
 * lists what it has), the lines of `--list-devices`, and the live panel
 * behind `GET /controls` and `POST /controls`
 * ({@linkcode CameraControlPanel}), which opens the camera for each
 * request beside the capture (V4L2 allows a second open for controls).
 *
 * @module
 */

import { CamwireError, message, UsageError } from "../../common/cli.ts";
import type { Libc } from "../sys/libc.ts";
import { V4l2Device } from "./v4l2.ts";
import { nodeOf } from "./names.ts";
import { findControl, type V4l2Control } from "./v4l2_controls.ts";

/** One `--control NAME=VALUE`, as given. */
export interface ControlSetting {
  name: string;
  value: string;
}

/** A control to set, checked: which, and to what. */
export interface ControlChange {
  id: number;
  /** The camera's name for it (the one given may be an alias). */
  name: string;
  value: number;
}

/** A name or value the camera's controls do not take. */
export class ControlError extends CamwireError {
  /** @param message Which, and what the camera has. */
  constructor(message: string) {
    super(message);
    this.name = "ControlError";
  }
}

/**
 * Reads one `--control` flag.
 *
 * @throws {UsageError} When it is not NAME=VALUE with an integer VALUE.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(readControlFlag("brightness=-10"), { name: "brightness", value: "-10" });
 * assert.throws(() => readControlFlag("brightness"));
 * ```
 */
export function readControlFlag(text: string): ControlSetting {
  const m = /^([A-Za-z0-9_]+)=(-?\d{1,10})$/.exec(text.trim());
  if (!m) {
    throw new UsageError(
      `Invalid value for --control: "${text}" is not NAME=VALUE with a whole number, e.g. brightness=140 (--list-devices lists the camera's controls)`,
    );
  }
  return { name: m[1]!, value: m[2]! };
}

/** `brightness (-64–64)`, `power_line_frequency (0 Disabled, 1 50 Hz)`. */
function offers(control: V4l2Control): string {
  return `${control.name} (${range(control)})`;
}

/** What a control takes, in words. */
function range(control: V4l2Control): string {
  switch (control.type) {
    case "bool":
      return "0 or 1";
    case "button":
      return "any value: a button";
    case "menu":
    case "intmenu":
      return (control.menu ?? []).map((m) => `${m.index} ${m.name}`)
        .join(", ");
    default:
      return `${control.min}–${control.max}` +
        (control.step > 1 ? ` step ${control.step}` : "");
  }
}

/**
 * Checks changes against the camera's controls.
 *
 * @param controls What the camera has (`V4l2Device.controls()`).
 * @param settings Names (or pre-5.16 aliases) and values.
 * @returns Each change: the control's ID and the value, in order.
 * @throws {ControlError} At the first wrong one: one line saying what the
 * camera has (every control for a wrong name, the range for a wrong value).
 */
export function checkControls(
  controls: V4l2Control[],
  settings: ControlSetting[],
): ControlChange[] {
  return settings.map(({ name, value: text }) => {
    const control = findControl(controls, name);
    if (control === undefined) {
      throw new ControlError(
        `${name}=${text}: the camera has no control "${name}"; it has: ${
          controls.map(offers).join(", ") || "none"
        }`,
      );
    }
    const value = Number(text);
    if (control.readOnly) {
      throw new ControlError(
        `${name}=${text}: ${control.name} is read-only (it is ${control.value})`,
      );
    }
    const fits = control.type === "button" ||
      (Number.isInteger(value) &&
        (control.type === "menu" || control.type === "intmenu"
          ? (control.menu ?? []).some((m) => m.index === value)
          : value >= control.min && value <= control.max));
    if (!fits) {
      throw new ControlError(
        `${name}=${text}: ${control.name} takes ${range(control)}`,
      );
    }
    return { id: control.id, name: control.name, value };
  });
}

/**
 * Sets the checked `--control` changes on an open camera, each refusal
 * one warning (the mode and the stream go on).
 */
export function applyControls(
  camera: { setControl(id: number, value: number): number },
  changes: ControlChange[],
  log: (line: string) => void,
): void {
  for (const { id, name, value } of changes) {
    try {
      camera.setControl(id, value);
    } catch (error) {
      log(
        `camwire: warning: the camera refused --control ${name}=${value}: ${
          message(error)
        }`,
      );
    }
  }
}

/**
 * One control for `--list-devices`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(
 *   describeControl({
 *     id: 0x00980900, name: "brightness", label: "Brightness", type: "int",
 *     min: -64, max: 64, step: 1, default: 0, value: 10, readOnly: false,
 *     inactive: false,
 *   }),
 *   "brightness = 10 (-64–64, default 0)",
 * );
 * ```
 */
export function describeControl(control: V4l2Control): string {
  const value = control.value === undefined ? "" : ` = ${control.value}`;
  const notes = [
    control.type === "button" ? "" : `default ${control.default}`,
    control.readOnly ? "read-only" : "",
    control.inactive ? "inactive" : "",
  ].filter(Boolean).join(", ");
  return `${control.name}${value} (${range(control)}${
    notes ? `, ${notes}` : ""
  })`;
}

/** A control as `GET /controls` gives it (JSON). */
export interface ControlJson {
  name: string;
  label: string;
  id: number;
  type: string;
  min: number;
  max: number;
  step: number;
  default: number;
  /** `null` where it cannot be read (a button). */
  value: number | null;
  readOnly: boolean;
  inactive: boolean;
  /** A menu's items, by index. */
  menu?: Record<string, string>;
}

/** A control as JSON for `GET /controls`. */
export function controlJson(control: V4l2Control): ControlJson {
  const json: ControlJson = {
    name: control.name,
    label: control.label,
    id: control.id,
    type: control.type,
    min: control.min,
    max: control.max,
    step: control.step,
    default: control.default,
    value: control.value ?? null,
    readOnly: control.readOnly,
    inactive: control.inactive,
  };
  if (control.menu !== undefined) {
    json.menu = Object.fromEntries(control.menu.map((m) => [m.index, m.name]));
  }
  return json;
}

/** What the panel answers: the controls, or why not. */
export type PanelAnswer =
  | { ok: true; controls: ControlJson[] }
  | { ok: false; error: string; cause: "request" | "camera" };

/**
 * The camera's controls, live: each call opens the camera, reads or sets
 * its controls and closes it again, beside a capture that may be
 * streaming from it (controls do not need the streaming fd).
 */
export class CameraControlPanel {
  #device: string;
  #libc: Libc | null | undefined;

  /**
   * @param device The camera, e.g. `/dev/video0`.
   * @param libc libc, or the emulated camera (tests). @default {openLibc()}
   */
  constructor(device: string, libc?: Libc | null) {
    this.#device = device;
    this.#libc = libc;
  }

  /** Every control with its current value. */
  list(): PanelAnswer {
    return this.#with((camera) => ({
      ok: true,
      controls: camera.controls().map(controlJson),
    }));
  }

  /**
   * Sets controls, all checked before any is set.
   *
   * @param settings Names (or aliases) and values, in order.
   * @returns Every control afterwards, or why nothing (or not all) was set.
   */
  set(settings: ControlSetting[]): PanelAnswer {
    return this.#with((camera) => {
      const changes = checkControls(camera.controls(), settings);
      for (const { id, value } of changes) camera.setControl(id, value);
      return { ok: true, controls: camera.controls().map(controlJson) };
    });
  }

  #with(work: (camera: V4l2Device) => PanelAnswer): PanelAnswer {
    let camera: V4l2Device;
    try {
      // Through its name, anew: a replugged camera may be at another node.
      const node = nodeOf(this.#device);
      camera = V4l2Device.open(node, this.#libc);
    } catch (error) {
      return { ok: false, error: message(error), cause: "camera" };
    }
    try {
      return work(camera);
    } catch (error) {
      return {
        ok: false,
        error: message(error),
        cause: error instanceof ControlError ? "request" : "camera",
      };
    } finally {
      camera.closeNow();
    }
  }
}
