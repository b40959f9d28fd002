// Copyright 2026 the camwire authors. MIT license.
/**
 * `GET /metrics`: the server's numbers in the Prometheus text format
 * (version 0.0.4), for Prometheus, Grafana Agent, Netdata and friends.
 *
 * @module
 */

/** The capture's states, each a label of `camwire_capture_state`. */
const STATES = ["live", "restarting", "placeholder", "idle"] as const;

/** The numbers `/metrics` shows. */
export interface Metrics {
  uptimeSeconds: number;
  /** See `CaptureState` in capture.ts. */
  captureState: string;
  /** Frames captured in the last second. */
  captureFps: number;
  /** ffmpeg captures started again after a loss. */
  captureRestarts: number;
  framesCaptured: number;
  /** Viewers by kind: `tcp`, `http`, and `pickle` with `--pickle-port`. */
  viewers: Record<string, number>;
  framesSent: number;
  framesSkipped: number;
  bytesSent: number;
}

/** Content type of the Prometheus text format. */
export const METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/**
 * Writes the metrics as Prometheus text: a `# HELP` and `# TYPE` line per
 * metric, then its samples.
 *
 * @param metrics The numbers.
 * @returns The text, ending with a newline.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const text = renderMetrics({
 *   uptimeSeconds: 12.5, captureState: "live", captureFps: 30,
 *   captureRestarts: 0, framesCaptured: 375, viewers: { tcp: 2, http: 1 },
 *   framesSent: 700, framesSkipped: 3, bytesSent: 5_600_000,
 * });
 * assert.match(text, /^camwire_viewers\{kind="tcp"\} 2$/m);
 * assert.match(text, /^camwire_capture_state\{state="live"\} 1$/m);
 * assert.match(text, /^camwire_frames_captured_total 375$/m);
 * ```
 */
export function renderMetrics(metrics: Metrics): string {
  const lines: string[] = [];
  const metric = (
    name: string,
    type: "counter" | "gauge",
    help: string,
    samples: [labels: string, value: number][],
  ) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      lines.push(`${name}${labels} ${number(value)}`);
    }
  };
  metric(
    "camwire_uptime_seconds",
    "gauge",
    "Seconds since the server started.",
    [
      ["", metrics.uptimeSeconds],
    ],
  );
  metric(
    "camwire_capture_state",
    "gauge",
    "1 for the capture's state: live, restarting, placeholder (no ffmpeg, the no-signal frame) or idle (--on-demand, nobody watching).",
    STATES.map((state) => [
      `{state="${state}"}`,
      metrics.captureState === state ? 1 : 0,
    ]),
  );
  metric(
    "camwire_capture_frames_per_second",
    "gauge",
    "Frames captured in the last second.",
    [["", metrics.captureFps]],
  );
  metric(
    "camwire_capture_restarts_total",
    "counter",
    "ffmpeg captures started again after the capture was lost.",
    [["", metrics.captureRestarts]],
  );
  metric(
    "camwire_frames_captured_total",
    "counter",
    "Frames captured (including no-signal frames).",
    [["", metrics.framesCaptured]],
  );
  metric(
    "camwire_viewers",
    "gauge",
    "Connected viewers by kind.",
    Object.entries(metrics.viewers).map(([kind, n]) => [
      `{kind="${kind}"}`,
      n,
    ]),
  );
  metric(
    "camwire_frames_sent_total",
    "counter",
    "Frames fully sent to viewers, all viewers together.",
    [["", metrics.framesSent]],
  );
  metric(
    "camwire_frames_skipped_total",
    "counter",
    "Frames slow viewers skipped for a newer one.",
    [["", metrics.framesSkipped]],
  );
  metric(
    "camwire_bytes_sent_total",
    "counter",
    "Bytes of frames sent to viewers.",
    [["", metrics.bytesSent]],
  );
  return lines.join("\n") + "\n";
}

/** A sample value as Prometheus writes it. */
function number(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value > 0 ? "+Inf" : "-Inf";
  return String(Number.isInteger(value) ? value : Number(value.toFixed(3)));
}
