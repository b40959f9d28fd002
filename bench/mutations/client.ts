// Copyright 2026 the camwire authors. MIT license.
/**
 * Mutations of the client: its window, --reconnect, --stats, and the wire's
 * parsers (see bench/mutants.ts).
 *
 * @module
 */

import type { Mutation } from "./mutation.ts";

/** Mutations of the client. */
export const CLIENT: Mutation[] = [
  {
    name: "window: every frame written to ffplay (queueing)",
    file: "common/ffplay.ts",
    from: "this.#sender.offer(jpeg);",
    to: "this.#writer.write(jpeg).catch(() => {});",
    tests: ["common/ffplay_test.ts"],
  },
  {
    name: "window: an option the real ffplay rejects",
    file: "common/ffplay.ts",
    from: '...words("-use_wallclock_as_timestamps 1 -window_title"),',
    to:
      '...words("-no_such_option 1 -use_wallclock_as_timestamps 1 -window_title"),',
    tests: ["common/ffplay_test.ts"],
  },
  {
    name: "window: no check for a display",
    file: "common/ffplay.ts",
    from: "if (!hasDisplay(env, Deno.build.os)) throw new NoDisplayError();",
    to: "",
    tests: ["common/ffplay_test.ts"],
  },
  {
    name: "window: SDL may fall back to a driver that shows nothing",
    file: "common/ffplay.ts",
    from: "SDL_VIDEODRIVER: env.SDL_VIDEODRIVER ?? SDL_VIDEO_DRIVERS,",
    to: "",
    tests: ["common/ffplay_test.ts"],
  },
  {
    name: "client --stats: dropped always 0",
    file: "client.ts",
    from: "} kbit/s, ${droppedTotal - this.#dropped} dropped, ${latency}`;",
    to: "} kbit/s, 0 dropped, ${latency}`;",
    tests: ["e2e/client_test.ts"],
  },
  {
    name: "client --reconnect: no doubling",
    file: "client.ts",
    from: "const delay = backoff.next();",
    to: "const delay = (backoff.next(), 500);",
    tests: ["e2e/client_test.ts", "e2e/faults_test.ts"],
    filter: "reconnect",
  },
  {
    name: "framing: RST4-RST7 inside entropy data taken for markers",
    file: "framing.ts",
    from: "if (code === 0x00 || (code >= 0xd0 && code <= 0xd7)) {",
    to: "if (code === 0x00 || (code >= 0xd0 && code <= 0xd3)) {",
    tests: ["framing_test.ts"],
  },
  {
    name: "client --reconnect: the window closed while the server is away",
    file: "client.ts",
    from: "if (got > 0) backoff.reset(); // it worked for a while",
    to: "if (got > 0) backoff.reset();\n    await sink.close();",
    tests: ["e2e/client_test.ts"],
    filter: "window open",
  },
  {
    name: "client --reconnect: the delay never starts over after a stream",
    file: "client.ts",
    from: "if (got > 0) backoff.reset(); // it worked for a while",
    to: "if (got > 0) void 0; // it worked for a while",
    tests: ["e2e/reconnect_reset_test.ts"],
  },
];
