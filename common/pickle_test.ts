// Copyright 2026 the camwire authors. MIT license.
/**
 * Tests of the pickle codec against the real thing: pickles made by
 * `/usr/bin/python3` with numpy (every protocol from 2 to 5, C and Fortran
 * order), numpy 2.x's module names, and pickles that would run code.
 */
import assert from "node:assert/strict";
import {
  pickleArray,
  pickleParts,
  PickleRefused,
  type PixelArray,
  unpickleArray,
} from "./pickle.ts";

const PYTHON = "/usr/bin/python3";

/**
 * Runs a Python script that prints one base64 pickle per line.
 *
 * @param script Python source.
 * @param stdin Bytes for its standard input.
 * @returns The decoded lines.
 */
async function python(
  script: string,
  stdin: Uint8Array = new Uint8Array(),
): Promise<string> {
  const child = new Deno.Command(PYTHON, {
    args: ["-c", script],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(stdin);
  await writer.close();
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  try {
    const { success, stdout, stderr } = await child.output();
    assert.ok(success, new TextDecoder().decode(stderr));
    return new TextDecoder().decode(stdout);
  } finally {
    clearTimeout(timer);
  }
}

function fromBase64(line: string): Uint8Array {
  return Uint8Array.from(atob(line), (c) => c.charCodeAt(0));
}

function toBase64(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text);
}

/** A picture whose every byte depends on where it is. */
function picture(
  height: number,
  width: number,
  channels: 1 | 3 | 4,
): PixelArray {
  const pixels = new Uint8Array(height * width * channels);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7 + (i >> 8)) & 0xff;
  return { height, width, channels, pixels };
}

/** The same picture made in numpy: `(i * 7 + (i >> 8)) & 0xff` in C order. */
const NUMPY_PICTURE = `
import numpy as np
def picture(shape):
    i = np.arange(int(np.prod(shape)), dtype=np.int64)
    return ((i * 7 + (i >> 8)) & 0xff).astype(np.uint8).reshape(shape)
`;

Deno.test("pickleArray() writes what Python's pickle.loads reads back as the same numpy uint8 array", async () => {
  const cases = [picture(240, 320, 3), picture(3, 5, 1), picture(2, 300, 4)];
  const out = await python(
    `
import sys, base64, pickle, pickletools
${NUMPY_PICTURE}
for line in sys.stdin:
    data = base64.b64decode(line)
    array = pickle.loads(data)
    assert type(array) is np.ndarray and array.dtype == np.uint8, (type(array), array.dtype)
    assert (array == picture(array.shape)).all()
    names = sorted({arg for op, arg, _ in pickletools.genops(data) if op.name == "GLOBAL"})
    print(array.shape, array.flags["C_CONTIGUOUS"], data[1], names)
`,
    new TextEncoder().encode(
      cases.map((c) => toBase64(pickleArray(c))).join("\n") + "\n",
    ),
  );
  // Protocol 3, and only names numpy 2.x also has (numpy.core.multiarray
  // keeps _reconstruct "to support old pickle files").
  const names =
    "['numpy dtype', 'numpy ndarray', 'numpy.core.multiarray _reconstruct']";
  assert.equal(
    out,
    [
      `(240, 320, 3) True 3 ${names}`,
      `(3, 5) True 3 ${names}`,
      `(2, 300, 4) True 3 ${names}`,
      "",
    ].join("\n"),
  );
});

Deno.test("pickleParts() puts the pixels between prefix and suffix", () => {
  const array = picture(4, 6, 3);
  const { prefix, suffix } = pickleParts(4, 6, 3);
  const whole = pickleArray(array);
  assert.deepEqual(whole.subarray(0, prefix.length), prefix);
  assert.deepEqual(whole.subarray(-suffix.length), suffix);
  assert.equal(whole.length, prefix.length + 72 + suffix.length);
});

Deno.test("unpickleArray() reads numpy's pickles of every protocol from 2 to 5, C or Fortran order, gray or BGR", async () => {
  const out = await python(`
import pickle, base64
${NUMPY_PICTURE}
for shape in [(240, 320, 3), (7, 9), (5, 4, 1), (3, 2, 4), (300, 2, 3)]:
    for protocol in range(2, 6):
        a = picture(shape)
        for array in [a, np.asfortranarray(a), a[::1, ::1]]:
            print(base64.b64encode(pickle.dumps(array, protocol=protocol)).decode())
`);
  const lines = out.trim().split("\n");
  assert.equal(lines.length, 5 * 4 * 3);
  for (const [i, line] of lines.entries()) {
    const shape = [[240, 320, 3], [7, 9, 1], [5, 4, 1], [3, 2, 4], [
      300,
      2,
      3,
    ]][Math.floor(i / 12)]!;
    const [height, width, channels] = shape as [number, number, 1 | 3 | 4];
    const got = unpickleArray(fromBase64(line));
    assert.deepEqual(got, picture(height, width, channels), `pickle ${i}`);
  }
});

Deno.test("unpickleArray() reads the module names numpy 2.x writes (numpy._core)", async () => {
  const out = await python(`
import pickle, base64
${NUMPY_PICTURE}
a = picture((4, 6, 3))
for protocol in (2, 3):
    data = pickle.dumps(a, protocol=protocol).replace(b"numpy.core.multiarray", b"numpy._core.multiarray")
    print(base64.b64encode(data).decode())
data = pickle.dumps(a, protocol=5).replace(b"\\x8c\\x12numpy.core.numeric", b"\\x8c\\x13numpy._core.numeric")
assert b"numpy._core.numeric" in data
print(base64.b64encode(data).decode())
`);
  for (const line of out.trim().split("\n")) {
    assert.deepEqual(unpickleArray(fromBase64(line)), picture(4, 6, 3));
  }
});

Deno.test("unpickleArray() refuses a pickle whose __reduce__ would run code, naming what it calls, without running it", async () => {
  const marker = await Deno.makeTempFile({ prefix: "camwire-pickle-" });
  await Deno.remove(marker);
  try {
    const out = await python(`
import base64, os, pickle, subprocess, builtins
class System:
    def __reduce__(self): return (os.system, ("touch ${marker}",))
class Popen:
    def __reduce__(self): return (subprocess.Popen, (["touch", "${marker}"],))
class Eval:
    def __reduce__(self): return (builtins.eval, ("open('${marker}', 'w')",))
for protocol in range(2, 6):
    for evil in (System(), Popen(), Eval()):
        print(base64.b64encode(pickle.dumps(evil, protocol=protocol)).decode())
`);
    const lines = out.trim().split("\n");
    assert.equal(lines.length, 12);
    for (const [i, line] of lines.entries()) {
      // Protocol 2 writes Python 2's names (fix_imports).
      const names = i < 3
        ? ["posix.system", "commands.Popen", "__builtin__.eval"]
        : ["posix.system", "subprocess.Popen", "builtins.eval"];
      const name = names[i % 3]!;
      assert.throws(
        () => unpickleArray(fromBase64(line)),
        (error: unknown) => {
          assert.ok(error instanceof PickleRefused);
          assert.equal(
            error.message,
            `Refused a pickled frame: it names the Python callable "${name}"; ` +
              "only a numpy uint8 array is accepted (unpickling anything else can run code)",
          );
          return true;
        },
      );
    }
    await assert.rejects(Deno.stat(marker), Deno.errors.NotFound);
  } finally {
    await Deno.remove(marker).catch(() => {});
  }
});

Deno.test("unpickleArray() refuses other numpy arrays and other values with a clear reason", async () => {
  const out = await python(`
import base64, pickle
import numpy as np
cases = [
    np.zeros((4, 4, 3), np.float32),
    np.zeros((4, 4, 3), object),
    np.zeros((4, 4, 3), np.uint16),
    np.zeros((4, 4, 2), np.uint8),
    np.zeros((100,), np.uint8),
    np.zeros((2, 2, 2, 3), np.uint8),
    np.zeros((0, 4, 3), np.uint8),
    np.zeros((20000, 1, 3), np.uint8),
    np.zeros((4, 4, 3), [("b", np.uint8), ("g", np.uint8), ("r", np.uint8)]),
    [1, 2, 3],
    {"frame": 1},
    b"bytes",
    "text",
    None,
]
for value in cases:
    print(base64.b64encode(pickle.dumps(value, protocol=2)).decode())
print(base64.b64encode(pickle.dumps(np.zeros((4, 4, 3), np.uint8), protocol=0)).decode())
`);
  const reasons = [
    /holds "f4", not uint8/,
    /holds "O8", not uint8/,
    /holds "u2", not uint8/,
    /shape \(4, 4, 2\) is not a picture's/,
    /shape \(100\) is not a picture's/,
    /shape \(2, 2, 2, 3\) is not a picture's/,
    /the Python callable "__builtin__.bytes"/, // an empty array's b""

    /shape \(20000, 1, 3\) is not a picture's/,
    /holds "V3", not uint8/,
    /opcode 0x5d at byte 2/, // EMPTY_LIST
    /opcode 0x7d at byte 2/, // EMPTY_DICT
    /it holds bytes, not a numpy array/,
    /it holds a str, not a numpy array/,
    /holds None, not a numpy array/,
    /not a pickle of protocol 2 or higher/,
  ];
  const lines = out.trim().split("\n");
  assert.equal(lines.length, reasons.length);
  for (const [i, line] of lines.entries()) {
    assert.throws(
      () => unpickleArray(fromBase64(line)),
      (error: unknown) => {
        assert.ok(error instanceof PickleRefused, String(error));
        assert.match(error.message, reasons[i]!, `case ${i}`);
        return true;
      },
    );
  }
});

Deno.test("unpickleArray() throws nothing but PickleRefused for any cut or damaged pickle", () => {
  const good = pickleArray(picture(6, 8, 3));
  let seed = 1;
  const random = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const attempts: Uint8Array[] = [];
  for (let end = 0; end < good.length; end++) {
    attempts.push(good.subarray(0, end));
  }
  for (let i = 0; i < 3000; i++) {
    const bad = good.slice();
    for (let k = 0; k < 1 + Math.floor(random() * 3); k++) {
      bad[Math.floor(random() * 200)] = Math.floor(random() * 256);
    }
    attempts.push(bad);
  }
  let accepted = 0;
  for (const bytes of attempts) {
    try {
      const array = unpickleArray(bytes);
      // A flip inside the pixels, or one that keeps it an array: fine,
      // if the result is still a whole, sane picture.
      assert.equal(
        array.pixels.length,
        array.height * array.width * array.channels,
      );
      accepted++;
    } catch (error) {
      if (!(error instanceof PickleRefused)) throw error;
    }
  }
  assert.ok(accepted < attempts.length / 2, `${accepted} accepted`);
});
