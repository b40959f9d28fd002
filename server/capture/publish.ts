// Copyright 2026 the camwire authors. MIT license.
/**
 * Publishing to media servers (`--publish`): one relay ffmpeg per target,
 * forwarding the capture's H.264 from a local UDP port, retried with
 * backoff so that a failing target never touches the local stream.
 *
 * @module
 */

import dgram from "node:dgram";
import { message } from "../../common/cli.ts";
import { seconds, sleep } from "../../common/time.ts";
import { Backoff } from "../../common/backoff.ts";
import { endProcess, spawn } from "../../common/child.ts";
import { relayArgs } from "./ffmpeg.ts";

/**
 * Publishes to one media server: runs the relay ffmpeg that forwards the
 * capture's H.264 to it, and restarts it with backoff (0.5 s doubling to
 * 5 s) whenever it fails, logging each failure and each recovery. The
 * capture itself never notices.
 */
export class Publisher {
  readonly url: string;
  #ffmpeg: string;
  #relay: string;
  #log: (line: string) => void;
  #child: Deno.ChildProcess | null = null;
  #stopped = false;
  /** Cuts the wait before a retry short on {@linkcode stop}. */
  readonly #stopping = new AbortController();
  readonly #backoff = new Backoff();
  #failing = false;
  readonly #done: Promise<void>;

  constructor(
    ffmpeg: string,
    relay: string,
    url: string,
    log: (line: string) => void,
  ) {
    this.#ffmpeg = ffmpeg;
    this.#relay = relay;
    this.url = url;
    this.#log = log;
    this.#done = this.#run().catch((error) => {
      this.#log(`camwire: publishing to ${url} stopped: ${message(error)}`);
    });
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const started = performance.now();
      const child = spawn(this.#ffmpeg, {
        args: relayArgs(this.#relay, this.url),
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      });
      this.#child = child;
      const [status, stderr] = await Promise.all([
        child.status,
        new Response(child.stderr).text().catch(() => ""),
        this.#watchProgress(child.stdout),
      ]);
      this.#child = null;
      if (this.#stopped) return;
      const why = stderr.trim().split("\n").at(-1) ||
        `ffmpeg exited (code ${status.code})`;
      this.#backoff.ran(performance.now() - started);
      const delay = this.#backoff.next();
      this.#failing = true;
      this.#log(
        `camwire: publish to ${this.url} failed: ${why}; retrying in ${
          seconds(delay)
        }`,
      );
      await sleep(delay, this.#stopping.signal);
    }
  }

  /**
   * Reads the relay's `-progress` report: once it has written bytes to the
   * media server, publishing works (a relay still probing its input or
   * connecting has written none).
   */
  async #watchProgress(stdout: ReadableStream<Uint8Array>): Promise<void> {
    let announced = false;
    try {
      for await (const text of stdout.pipeThrough(new TextDecoderStream())) {
        const size = Number(text.match(/total_size=(\d+)/)?.[1] ?? 0);
        if (announced || size === 0) continue;
        announced = true;
        this.#log(
          `camwire: publishing to ${this.url}${this.#failing ? " again" : ""}`,
        );
        this.#failing = false;
      }
    } catch {
      // The relay ended.
    }
  }

  /** Stops publishing and waits for the relay to end. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stopping.abort();
    const child = this.#child;
    if (child) await endProcess(child);
    await this.#done;
  }
}

/** Finds a free local UDP port for a relay. */
export async function freeUdpPort(): Promise<number> {
  const socket = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}
