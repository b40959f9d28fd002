// Copyright 2026 the camwire authors. MIT license.
/**
 * `GET /controls` and `POST /controls?NAME=VALUE&…`: the camera's controls
 * over HTTP, read and changed live. The HTTP side knows no camera: it asks
 * a {@linkcode CameraControls}, which server/server.ts wires to the camera
 * (server/camera/controls.ts).
 *
 * Who may change them: **only a request that carries the token**. Without
 * `--token` every POST is refused (403), also from 127.0.0.1: on a Pi the
 * stream is often served through a web server on the same machine (nginx
 * in front of it, as Mainsail and OctoPrint set up), which makes every
 * request from anywhere come from 127.0.0.1, so "local" proves nothing;
 * and watching is not changing: a camera's exposure, focus or white
 * balance changed by anyone who can see the stream would spoil it for
 * every viewer and every recording. With a token, a POST that a browser
 * sends from another site's page (its `Origin` is neither this server nor
 * `--allow-origin`) is refused too, since a browser may add the Basic auth
 * it remembers for this server to such a request.
 *
 * @module
 */

/** What the camera's side answers: the controls, or why not. */
export type ControlsAnswer =
  | { ok: true; controls: unknown[] }
  | {
    ok: false;
    error: string;
    /** `request`: a wrong name or value (400); `camera`: it failed (503). */
    cause: "request" | "camera";
  };

/** The camera's controls, as the HTTP side needs them. */
export interface CameraControls {
  /** Every control with its range and current value. */
  list(): ControlsAnswer;
  /**
   * Sets controls, all checked before any is set.
   *
   * @param settings Names and values as given (values as text).
   */
  set(settings: { name: string; value: string }[]): ControlsAnswer;
}

/** What {@linkcode answerControls} needs to know of the request. */
export interface ControlsRequest {
  method: string;
  url: URL;
  /** The request's `Origin` header, if any. */
  origin: string | null;
  /** The request's `Host` header, if any. */
  host: string | null;
  /** Whether the server has a token (and so the request carried it). */
  tokenGiven: boolean;
  /** `--allow-origin`. */
  allowOrigin?: string | undefined;
  /** Whether the server speaks https. */
  secure: boolean;
}

/**
 * Answers `/controls`: GET lists, POST changes (see the module doc for who
 * may).
 *
 * @param controls The camera's controls, or `undefined` when the source
 * is not a V4L2 camera.
 */
export function answerControls(
  request: ControlsRequest,
  controls: CameraControls | undefined,
): Response {
  if (controls === undefined) {
    return json(404, {
      error: "No camera controls: the source is not a V4L2 camera",
    });
  }
  if (request.method !== "POST") return answer(controls.list());
  if (!request.tokenGiven) {
    return json(403, {
      error:
        "Changing camera controls over HTTP needs --token (without one, anyone who can reach this port could change the camera; set them with --control instead)",
    });
  }
  const own = `${request.secure ? "https" : "http"}://${request.host ?? ""}`;
  if (
    request.origin !== null && request.origin !== own &&
    request.origin !== request.allowOrigin
  ) {
    return json(403, {
      error:
        `Changing camera controls from a page of ${request.origin} is refused`,
    });
  }
  const settings = [...request.url.searchParams]
    .filter(([name]) => name !== "token")
    .map(([name, value]) => ({ name, value }));
  if (settings.length === 0) {
    return json(400, {
      error:
        "Give the controls to change as the query: POST /controls?brightness=140&contrast=20",
    });
  }
  const bad = settings.find(({ value }) => !/^-?\d{1,10}$/.test(value));
  if (bad !== undefined) {
    return json(400, {
      error: `${bad.name}=${bad.value}: the value is not a whole number`,
    });
  }
  return answer(controls.set(settings));
}

function answer(result: ControlsAnswer): Response {
  if (result.ok) return json(200, { controls: result.controls });
  return json(result.cause === "request" ? 400 : 503, { error: result.error });
}

function json(status: number, body: object): Response {
  return Response.json(body, {
    status,
    headers: { "cache-control": "no-store" },
  });
}
