// Copyright 2026 the camwire authors. MIT license.
/**
 * What both command lines share: the strict flag parser and its value
 * readers, the two kinds of user-facing error, and stopping on a signal.
 *
 * @module
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";

/** A user-facing failure: its message is printed as is, then exit 1. */
export class CamwireError extends Error {
  /** @param message One line that says what went wrong and what to do. */
  constructor(message: string) {
    super(message);
    this.name = "CamwireError";
  }
}

/** A bad command line: printed with a hint to --help, exit 2. */
export class UsageError extends Error {
  /** @param message What is wrong with which flag. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }

  /** Wraps a `parseArgs` error, its several lines joined into one. */
  static from(error: unknown): UsageError {
    return new UsageError(message(error).replace(/\s*\n\s*/g, " "));
  }
}

/**
 * Parses a command line strictly: unknown flags and stray words are errors.
 *
 * @param args Command-line arguments.
 * @param options The flags, as `node:util` `parseArgs` takes them.
 * @returns The flags' values.
 * @throws {UsageError} On an unknown flag or a missing value.
 */
export function parseFlags<const O extends ParseArgsOptionsConfig>(
  args: string[],
  options: O,
) {
  try {
    return parseArgs({
      args: joinNegativeValues(args, options),
      options,
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw UsageError.from(error);
  }
}

/**
 * Joins a value flag to a negative number after it (`--width -5` becomes
 * `--width=-5`): `parseArgs` takes `-5` for a flag and calls the command
 * line "ambiguous", where the user should hear that the number is wrong.
 *
 * @param args Command-line arguments.
 * @param options The flags: only those that take a value are joined.
 * @returns The arguments, negative values joined to their flags.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const options = { width: { type: "string" }, on: { type: "boolean" } } as const;
 * assert.deepEqual(joinNegativeValues(["--width", "-5"], options), ["--width=-5"]);
 * assert.deepEqual(joinNegativeValues(["--on", "-5"], options), ["--on", "-5"]);
 * ```
 */
export function joinNegativeValues(
  args: string[],
  options: ParseArgsOptionsConfig,
): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const next = args[i + 1];
    const name = arg.startsWith("--") ? arg.slice(2) : undefined;
    if (
      name !== undefined && Object.hasOwn(options, name) &&
      options[name]!.type === "string" && next !== undefined &&
      /^-(\d|\.\d)/.test(next)
    ) {
      joined.push(`${arg}=${next}`);
      i++;
    } else {
      joined.push(arg);
    }
  }
  return joined;
}

/**
 * Reads an integer flag value within bounds.
 *
 * @param name Flag name, for the message.
 * @param value The flag's text.
 * @param range Smallest and largest allowed value.
 * @returns The number.
 * @throws {UsageError} When it is not an integer in range.
 */
export function intFlag(
  name: string,
  value: string,
  [min, max]: [number, number],
): number {
  return numberFlag(name, value, [min, max], "an integer");
}

/**
 * Reads a duration flag given in seconds.
 *
 * @param name Flag name, for the message.
 * @param value The flag's text, e.g. `2.5`.
 * @param range Smallest and largest allowed seconds.
 * @returns Milliseconds.
 * @throws {UsageError} When it is not a number of seconds in range.
 */
export function secondsFlag(
  name: string,
  value: string,
  [min, max]: [number, number],
): number {
  return Math.round(
    numberFlag(name, value, [min, max], "a number of seconds") * 1000,
  );
}

/** A flag's number within bounds, whole if `kind` says "an integer". */
function numberFlag(
  name: string,
  value: string,
  [min, max]: [number, number],
  kind: "an integer" | "a number of seconds",
): number {
  const n = Number(value);
  const whole = kind === "an integer"
    ? Number.isInteger(n)
    : Number.isFinite(n);
  if (value.trim() !== "" && n < 0 && min >= 0) {
    const what = kind === "an integer" ? "integer" : "number of seconds";
    throw new UsageError(
      `Invalid value for --${name}: "${value}" must be a positive ${what} (from ${min} to ${max})`,
    );
  }
  if (value.trim() === "" || !whole || n < min || n > max) {
    throw new UsageError(
      `Invalid value for --${name}: "${value}" is not ${kind} from ${min} to ${max}`,
    );
  }
  return n;
}

/**
 * Reads a command's flags for its `main()`: a bad command line is printed
 * with a hint to `--help` and ends the process (exit 2); `--help` prints
 * the usage.
 *
 * @param parse The command's flag parser.
 * @param printUsage Prints the command's help.
 * @returns The flags, or `undefined` when the help was printed.
 */
export function readCommandLine<F>(
  parse: (args: string[], env: { CAMWIRE_TOKEN?: string }) => F | "help",
  printUsage: () => void,
): F | undefined {
  let flags: F | "help";
  try {
    const token = Deno.env.get("CAMWIRE_TOKEN");
    flags = parse(
      Deno.args,
      token === undefined ? {} : { CAMWIRE_TOKEN: token },
    );
  } catch (error) {
    console.error(`camwire: ${message(error)} (see --help)`);
    Deno.exit(2);
  }
  if (flags !== "help") return flags;
  printUsage();
  return undefined;
}

/**
 * Reads the token from its flag or, failing that, the environment.
 *
 * @param flag `--token`'s value.
 * @param env `CAMWIRE_TOKEN`'s value.
 * @returns The token, or `undefined` for none.
 * @throws {UsageError} When it is empty or has a line break or space.
 */
export function tokenFlag(
  flag: string | undefined,
  env: string | undefined,
): string | undefined {
  const token = flag ?? env;
  if (token === undefined) return undefined;
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new UsageError(
      "Invalid value for --token: it must be printable ASCII without spaces, and not empty",
    );
  }
  return token;
}

/**
 * Reads a PEM file named by a flag.
 *
 * @param flag The flag, for the message.
 * @param path The file.
 * @returns Its text.
 * @throws {CamwireError} When it cannot be read.
 */
export function readPem(flag: string, path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (error) {
    throw new CamwireError(
      `Cannot read ${flag} file "${path}": ${message(error)}`,
    );
  }
}

/**
 * The words of an error, for a one-line message.
 *
 * @param error What was thrown.
 * @returns Its message, or the thing itself as text.
 */
export function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Calls `stop` on SIGINT (Ctrl-C) and SIGTERM (`kill`, systemd). Without a
 * listener Deno would exit at once and leave its child processes running.
 *
 * @param stop What to do instead.
 */
export function onStopSignal(stop: () => void): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    try {
      Deno.addSignalListener(signal, stop);
    } catch {
      // Windows before Deno 2.7.6 has no SIGTERM.
    }
  }
}
