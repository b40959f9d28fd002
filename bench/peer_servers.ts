// Copyright 2026 the camwire authors. MIT license.
/**
 * The servers bench/peer.ts compares, each started on the emulated camera
 * and stopped by its Target: ustreamer, camwire (as the docs' command runs
 * it, or as systemd/camwire.service does), bench/deno_floor.ts, and a
 * Deno that only listens on a port.
 *
 * @module
 */

import {
  BENCH,
  delay,
  onCleanup,
  type Resident,
  residentMb,
  ROOT,
  startServer,
  stopChild,
  withFdLimit,
} from "./bench_util.ts";
import { linesOf } from "../common/child.ts";

/** A server to measure: its pid, the port and path viewers use. */
export interface Target {
  pid: number;
  port: number;
  http: boolean;
  path: string;
  stop(): Promise<void>;
}

/** What the bench runs: the emulated camera and the programs. */
export interface Setup {
  library: string;
  device: string;
  ustreamer: string;
  /** The `DENO_V8_FLAGS` of systemd/camwire.service. */
  serviceV8Flags: string;
}

/** A free TCP port on 127.0.0.1 (for ustreamer, which takes no port 0). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** ustreamer on the emulated camera, once its capture is online. */
export async function ustreamer(setup: Setup): Promise<Target> {
  const port = freePort();
  const { cmd, args } = withFdLimit([
    "env",
    `LD_PRELOAD=${setup.library}`,
    setup.ustreamer,
    ...["-d", setup.device, "-m", "MJPEG", "-c", "HW"],
    ...["-r", "320x240", "-f", "30", "-s", "127.0.0.1", "-p", String(port)],
  ]);
  const child = new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const drained = (async () => {
    for await (const _ of linesOf(child.stderr)) {
      // ustreamer logs each client; nothing here needs it.
    }
  })();
  const stop = async () => {
    unregister();
    await stopChild(child);
    await drained;
  };
  const unregister = onCleanup(stop);
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    try {
      const state = await (await fetch(`http://127.0.0.1:${port}/state`))
        .json();
      if (state.result?.source?.online === true) {
        return { pid: child.pid, port, http: true, path: "/stream", stop };
      }
    } catch {
      // Not listening yet.
    }
    await delay(100);
  }
  await stop();
  throw new Error("ustreamer did not go online within 15 s");
}

/** The `DENO_V8_FLAGS` systemd/camwire.service runs camwire with. */
export async function serviceV8Flags(): Promise<string> {
  const unit = await Deno.readTextFile(`${ROOT}systemd/camwire.service`);
  const flags = /^Environment=DENO_V8_FLAGS=(.*)$/m.exec(unit)?.[1];
  if (flags === undefined) {
    throw new Error("systemd/camwire.service sets no DENO_V8_FLAGS");
  }
  return flags;
}

/**
 * camwire on the emulated camera: its TCP port, or its HTTP port; with
 * `v8Flags`, as the service runs it.
 */
export async function camwire(
  setup: Setup,
  http: boolean,
  extra: string[] = [],
  v8Flags?: string,
): Promise<Target> {
  const server = await startServer(
    ROOT + "server.ts",
    [
      ...["--device", setup.device, "--capture", "v4l2"],
      ...["--host", "127.0.0.1", "--port", "0", "--max-clients", "5000"],
      ...(http ? ["--http-port", "0"] : []),
      ...extra,
    ],
    undefined,
    [],
    v8Flags === undefined ? {} : { DENO_V8_FLAGS: v8Flags },
  );
  let port = server.port;
  if (http) {
    const web = server.linesMatching(/web page on http:\/\/127\.0\.0\.1:\d+/);
    port = Number(/:(\d+)\/$/.exec(web[0] ?? "")?.[1]);
    if (!port) {
      await server.stop();
      throw new Error("camwire printed no web page line");
    }
  }
  return {
    pid: server.pid,
    port,
    http,
    path: "/stream.mjpg",
    stop: () => server.stop(),
  };
}

/** bench/deno_floor.ts on the emulated camera. */
export async function denoFloor(setup: Setup): Promise<Target> {
  const { cmd, args } = withFdLimit([
    Deno.execPath(),
    ...["run", "-A", "--quiet", `${BENCH}deno_floor.ts`, setup.device],
  ]);
  const child = new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines = linesOf(child.stderr);
  const stop = async () => {
    unregister();
    await stopChild(child);
    await lines.return(undefined);
  };
  const unregister = onCleanup(stop);
  for await (const line of { [Symbol.asyncIterator]: () => lines }) {
    const port = /streaming on tcp:\/\/127\.0\.0\.1:(\d+)/.exec(line)?.[1];
    if (port) {
      return {
        pid: child.pid,
        port: Number(port),
        http: false,
        path: "",
        stop,
      };
    }
  }
  await stop();
  throw new Error("bench/deno_floor.ts did not start");
}

/**
 * The memory of a Deno process that does nothing but listen on a port,
 * run as the server is (`deno run` of a file; `deno eval` takes more).
 */
export async function denoListenMemory(dir: string): Promise<Resident> {
  const script = `${dir}/listen.ts`;
  await Deno.writeTextFile(
    script,
    "Deno.listen({ hostname: '127.0.0.1', port: 0 });\n" +
      "console.log('listening');\n" +
      "setInterval(() => {}, 1000);\n",
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", script],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const unregister = onCleanup(() => stopChild(child));
  try {
    for await (const _ of linesOf(child.stdout)) break; // "listening"
    await delay(2000);
    return residentMb(child.pid);
  } finally {
    unregister();
    await stopChild(child);
  }
}
