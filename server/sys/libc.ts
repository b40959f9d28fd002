// Copyright 2026 the camwire authors. MIT license.
/**
 * camwire's one handle on the C library, for the Linux calls Deno has no
 * API for: the symbol table of every libc function the project calls,
 * opened once with FFI on first use, and `errno`. Where libc cannot be
 * had (another OS, no --allow-ffi) {@linkcode openLibc} returns `null` and
 * the callers take their portable paths.
 *
 * For tests only: the environment variable `CAMWIRE_LIBC` names a shared
 * library to open instead of `libc.so.6`: the emulated camera
 * (testing/fake_camera.c), which defines `open`, `close`, `ioctl`, `poll`,
 * `mmap` and `munmap` for its fake devices and hands every other call, and
 * every other symbol, to the real libc it links. The code that runs is
 * then the production code, call for call.
 *
 * @module
 */

/** errno of a call interrupted by a signal, from <errno.h>. */
export const EINTR = 4;
/** errno of a nonblocking call that would have to wait, from <errno.h>. */
export const EAGAIN = 11;

/**
 * The environment variable naming a library to open in place of libc:
 * for tests only (the emulated camera), see the module doc.
 */
export const LIBC_OVERRIDE_ENV = "CAMWIRE_LIBC";

/**
 * Every libc function camwire calls. A module that needs another adds it
 * here: one table, one `dlopen` for the whole process.
 *
 * Each synchronous symbol costs about 0.1 ms once, at open, for its fast
 * call trampoline; a `nonblocking` one (run on a worker thread, returning
 * a promise) costs nothing then, but cannot report errno: that lives in
 * the worker's thread.
 */
export const SYMBOLS = {
  setsockopt: {
    parameters: ["i32", "i32", "i32", "buffer", "u32"],
    result: "i32",
  },
  // getsockopt(fd, level, name, value, &length): TCP_INFO's counters.
  getsockopt: {
    parameters: ["i32", "i32", "i32", "buffer", "buffer"],
    result: "i32",
  },
  // The length is a usize, passed as a bigint: as a number it would leave
  // V8's fast call path and cost twice as much.
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  // shutdown(fd, how): ends a socket whose Deno resource close() cannot
  // end (a TLS connection stuck in its handshake or in a write).
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
  // poll(fds, nfds, timeout): waits without blocking the event loop.
  poll: {
    parameters: ["buffer", "usize", "i32"],
    result: "i32",
    nonblocking: true,
  },
  __errno_location: { parameters: [], result: "pointer" },
  // The camera (server/camera/v4l2.ts). open(path, flags): the mode argument is
  // only read with O_CREAT, which camwire never passes.
  open: { parameters: ["buffer", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  // ioctl(fd, request, argp): every V4L2 request takes a pointer.
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  mmap: {
    parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"],
    result: "pointer",
  },
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
} as const;

/** libc opened with {@linkcode SYMBOLS}. */
export type Libc = Deno.DynamicLibrary<typeof SYMBOLS>;

let libc: Libc | null | undefined;
let errnoView: Deno.UnsafePointerView | undefined;
/** Why libc could not be opened; `undefined` while it is open or untried. */
let unavailable: string | undefined;

/**
 * Opens libc on the first call and returns the same handle after.
 *
 * It is never closed: a handle of the process, not a resource of a test.
 *
 * @returns libc, or `null` where it cannot be had (not Linux, no glibc,
 * no --allow-ffi).
 */
export function openLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  if (Deno.build.os !== "linux") {
    unavailable = "not Linux";
    return null;
  }
  const path = libraryPath();
  try {
    libc = Deno.dlopen(path, SYMBOLS);
  } catch (error) {
    // No FFI permission, or no glibc: the portable paths remain.
    unavailable = error instanceof Deno.errors.NotCapable
      ? "FFI is not allowed without -A or --allow-ffi"
      : `cannot open ${path} through FFI`;
  }
  return libc;
}

/**
 * Why {@linkcode openLibc} returns `null`, for messages: `not Linux`,
 * `FFI is not allowed (…)` or `cannot open libc.so.6 through FFI`.
 *
 * @returns The reason, or `undefined` when libc is open.
 */
export function libcUnavailable(): string | undefined {
  openLibc();
  return unavailable;
}

/** `libc.so.6`, or the test library that `CAMWIRE_LIBC` names. */
function libraryPath(): string {
  try {
    return Deno.env.get(LIBC_OVERRIDE_ENV) || "libc.so.6";
  } catch {
    return "libc.so.6"; // no --allow-env: no override either
  }
}

/**
 * errno of the calling thread: what the last failed synchronous libc call
 * set. Read it right after the call, before anything else may set it.
 *
 * @returns The errno value, e.g. {@linkcode EAGAIN}.
 * @throws {Error} If libc is not open (see {@linkcode openLibc}).
 */
export function errno(): number {
  if (errnoView === undefined) {
    const lib = openLibc();
    if (lib === null) throw new Error("Cannot read errno: libc is not open");
    // errno is thread-local, but the main thread's address never changes.
    errnoView = new Deno.UnsafePointerView(lib.symbols.__errno_location()!);
  }
  return errnoView.getInt32(0);
}
