// Copyright 2026 the camwire authors. MIT license.
import assert from "node:assert/strict";
import { intFlag, joinNegativeValues, parseFlags, UsageError } from "./cli.ts";
import { runScript } from "../testing/util.ts";

Deno.test("parseFlags() takes a negative number as a flag's value, for the flag's own reader to refuse", () => {
  const values = parseFlags(["--width", "-5", "--on"], {
    width: { type: "string" },
    on: { type: "boolean" },
  });
  assert.equal(values.width, "-5");
  assert.equal(values.on, true);
  // A word after a flag that takes no value is still an error.
  assert.throws(
    () => parseFlags(["--on", "-5"], { on: { type: "boolean" } }),
    UsageError,
  );
  assert.deepEqual(
    joinNegativeValues(["--width", "-.5", "--width", "-x"], {
      width: { type: "string" },
    }),
    ["--width=-.5", "--width", "-x"],
  );
});

Deno.test("intFlag() calls a negative number what it is: not a positive integer", () => {
  assert.throws(
    () => intFlag("width", "-5", [16, 7680]),
    /^UsageError: Invalid value for --width: "-5" must be a positive integer \(from 16 to 7680\)$/,
  );
  // Other bad values keep their message.
  assert.throws(
    () => intFlag("width", "5x", [16, 7680]),
    /"5x" is not an integer from 16 to 7680/,
  );
});

Deno.test("server.ts --width -5 and client.ts --frames -5: 'must be a positive integer', exit 2", async () => {
  for (
    const [script, args, line] of [
      [
        "server.ts",
        ["--width", "-5"],
        'camwire: Invalid value for --width: "-5" must be a positive integer (from 16 to 7680) (see --help)',
      ],
      [
        "client.ts",
        ["--frames", "-5"],
        'camwire: Invalid value for --frames: "-5" must be a positive integer (from 1 to 9007199254740991) (see --help)',
      ],
      [
        "client.ts",
        ["--timeout", "-1"],
        'camwire: Invalid value for --timeout: "-1" must be a positive number of seconds (from 0.1 to 3600) (see --help)',
      ],
    ] as const
  ) {
    const out = await runScript(script, [...args]);
    assert.equal(out.code, 2, `${script} ${args.join(" ")}`);
    assert.equal(out.stderr.trim(), line);
  }
});
