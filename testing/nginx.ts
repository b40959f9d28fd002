// Copyright 2026 the camwire authors. MIT license.
/**
 * A real nginx of a test's own, in a temporary folder: the reverse-proxy
 * recipe's (e2e/proxy_recipe_test.ts) and the RTMP media server that
 * `--publish` sends to (e2e/scaleout_test.ts).
 *
 * @module
 */

import { eventually } from "./util.ts";

/** A running nginx of {@linkcode startNginx}. */
export interface Nginx {
  /** The port it listens on, on 127.0.0.1. */
  port: number;
  /** Kills it and removes its folder. */
  stop(): Promise<void>;
}

/**
 * Starts nginx in the foreground (no daemon, no master process) with its
 * pid, error log and temporary files in a folder of its own, and waits
 * until it listens on 127.0.0.1:`port`.
 *
 * @param port The port `config` listens on.
 * @param config The configuration's own blocks (`http { … }`, `rtmp {
 * … }`), given the folder.
 * @param modules Dynamic modules to load first (`load_module` must come
 * before the blocks that use them).
 * @returns The running nginx; call `stop()` in a `finally`.
 */
export async function startNginx(
  port: number,
  config: (dir: string) => string,
  modules: string[] = [],
): Promise<Nginx> {
  const dir = await Deno.makeTempDir({ prefix: "camwire-nginx-" });
  await Deno.writeTextFile(
    `${dir}/nginx.conf`,
    `${modules.map((module) => `load_module ${module};\n`).join("")}daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events {}
${config(dir)}`,
  );
  const child = new Deno.Command("nginx", {
    args: ["-p", dir, "-c", `${dir}/nginx.conf`],
    stdin: "null",
    stdout: "null",
    stderr: "null", // its errors go to error.log
  }).spawn();
  // SIGKILL: a server that goes away. (With a publisher connected, nginx
  // may take long to honour SIGTERM.)
  const stop = async () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Exited already.
    }
    await child.status;
    await Deno.remove(dir, { recursive: true });
  };
  try {
    await eventually(
      async () => {
        try {
          (await Deno.connect({ hostname: "127.0.0.1", port })).close();
          return true;
        } catch {
          return false;
        }
      },
      5000,
      `nginx to listen on ${port}`,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { port, stop };
}
