// Copyright 2026 the camwire authors. MIT license.
/**
 * The Python tutorial's frame format, both ways: a picture as a pickled
 * numpy `uint8` array, as `pickle.dumps(frame)` makes it and
 * `pickle.loads` reads it.
 *
 * - {@linkcode pickleParts} / {@linkcode pickleArray} write one (protocol
 *   3, the layout numpy itself writes, loadable by numpy 1.x and 2.x).
 * - {@linkcode unpickleArray} reads one, from camwire or from Python, with
 *   a tiny pickle machine of its own that knows only what a numpy array
 *   needs. It never runs anything: a pickle that names any other Python
 *   callable (a `__reduce__` that would run code) is refused with a
 *   {@linkcode PickleRefused}, and so is every opcode it does not know.
 *
 * @example Round trip
 * ```ts
 * import assert from "node:assert/strict";
 * const picture: PixelArray = { height: 2, width: 2, channels: 3, pixels: new Uint8Array(12).fill(7) };
 * assert.deepEqual(unpickleArray(pickleArray(picture)), picture);
 * ```
 *
 * @module
 */

import { CamwireError } from "./cli.ts";

/** A picture as numpy holds it: rows of pixels of `channels` bytes (BGR). */
export interface PixelArray {
  /** Rows: numpy's `shape[0]`. */
  height: number;
  /** Columns: numpy's `shape[1]`. */
  width: number;
  /** Bytes per pixel: 3 for BGR, 1 for gray (a 2-D array), 4 for BGRA. */
  channels: 1 | 3 | 4;
  /** `height * width * channels` bytes, row after row (C order). */
  pixels: Uint8Array;
}

/** Bounds on what {@linkcode unpickleArray} accepts. */
export interface PickleLimits {
  /** Largest width or height. @default {16384} */
  maxSide?: number;
  /** Most pixel bytes in all. @default {64 MiB} */
  maxBytes?: number;
}

/**
 * A pickle that is not a sane numpy `uint8` array: refused, never run.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const evil = new TextEncoder().encode("\x80\x02cposix\nsystem\n");
 * assert.throws(() => unpickleArray(evil), PickleRefused);
 * ```
 */
export class PickleRefused extends CamwireError {
  /** @param reason What was wrong with it. */
  constructor(reason: string) {
    super(`Refused a pickled frame: ${reason}`);
    this.name = "PickleRefused";
  }
}

// Opcodes, as Python's pickle.py names them.
const PROTO = 0x80;
const FRAME = 0x95;
const STOP = 0x2e;
const MARK = 0x28;
const GLOBAL = 0x63;
const STACK_GLOBAL = 0x93;
const REDUCE = 0x52;
const BUILD = 0x62;
const BINUNICODE = 0x58;
const SHORT_BINUNICODE = 0x8c;
const BINUNICODE8 = 0x8d;
const SHORT_BINBYTES = 0x43;
const BINBYTES = 0x42;
const BINBYTES8 = 0x8e;
const BYTEARRAY8 = 0x96;
const SHORT_BINSTRING = 0x55;
const BINSTRING = 0x54;
const BININT1 = 0x4b;
const BININT2 = 0x4d;
const BININT = 0x4a;
const LONG1 = 0x8a;
const NONE = 0x4e;
const NEWTRUE = 0x88;
const NEWFALSE = 0x89;
const EMPTY_TUPLE = 0x29;
const TUPLE1 = 0x85;
const TUPLE2 = 0x86;
const TUPLE3 = 0x87;
const TUPLE = 0x74;
const BINPUT = 0x71;
const LONG_BINPUT = 0x72;
const MEMOIZE = 0x94;
const BINGET = 0x68;
const LONG_BINGET = 0x6a;

/** Python callables a numpy array's pickle names; nothing else is let in. */
const ALLOWED = new Set([
  "numpy.core.multiarray._reconstruct", // numpy 1.x (and 2.x, for old pickles)
  "numpy._core.multiarray._reconstruct", // numpy 2.x
  "numpy.core.numeric._frombuffer", // protocol 5, numpy 1.x
  "numpy._core.numeric._frombuffer", // protocol 5, numpy 2.x
  "numpy.ndarray",
  "numpy.dtype",
  "_codecs.encode", // bytes under protocol 2
  "codecs.encode",
]);

/** Most values on the stack, in the memo, or marks: a numpy array needs ~20. */
const MAX_ITEMS = 1000;

/** A Python global the pickle named (only those in {@linkcode ALLOWED}). */
class Global {
  constructor(readonly path: string) {}
}

/** `numpy.dtype('u1')`: the only element type accepted. */
class Uint8Dtype {}

/** A numpy array being rebuilt: `_reconstruct` makes it, `BUILD` fills it. */
class NdArray {
  shape: number[] | undefined;
  data: Uint8Array | undefined;
  fortran = false;
}

type Value =
  | null
  | boolean
  | number
  | string
  | Uint8Array
  | Global
  | Uint8Dtype
  | NdArray
  | readonly Value[];

const MARK_VALUE = Symbol("mark");

/**
 * The bytes of a pickled array, less its pixels: `prefix`, then the
 * `height * width * channels` pixel bytes, then `suffix`. A sender can
 * read pixels straight into a buffer between the two, with no copy.
 *
 * @param height Rows.
 * @param width Columns.
 * @param channels Bytes per pixel (3: a `(height, width, 3)` array; 1: a
 * `(height, width)` array).
 * @returns The bytes before and after the pixels.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const { prefix, suffix } = pickleParts(240, 320, 3);
 * assert.deepEqual([...prefix.subarray(0, 2)], [0x80, 3]); // protocol 3
 * assert.deepEqual([...suffix], [0x74, 0x62, 0x2e]); // TUPLE BUILD STOP
 * ```
 */
export function pickleParts(
  height: number,
  width: number,
  channels: 1 | 3 | 4,
): { prefix: Uint8Array; suffix: Uint8Array } {
  const out: number[] = [];
  const text = (s: string) => out.push(...new TextEncoder().encode(s));
  const int = (n: number) => {
    if (n < 0x100) out.push(BININT1, n);
    else if (n < 0x10000) out.push(BININT2, n & 0xff, n >> 8);
    else out.push(BININT, ...u32(n));
  };
  const unicode = (s: string) => {
    out.push(BINUNICODE, ...u32(s.length));
    text(s);
  };
  // numpy's own layout (pickle.dumps(array, protocol=3) under numpy 1.x):
  // _reconstruct(ndarray, (0,), b'b'), then BUILD with its state. The
  // numpy.core name loads in numpy 2.x too, which keeps it for old pickles.
  out.push(PROTO, 3, GLOBAL);
  text("numpy.core.multiarray\n_reconstruct\n");
  out.push(GLOBAL);
  text("numpy\nndarray\n");
  out.push(BININT1, 0, TUPLE1, SHORT_BINBYTES, 1, 0x62, TUPLE3, REDUCE);
  out.push(MARK, BININT1, 1);
  for (const n of [height, width]) int(n);
  if (channels === 1) out.push(TUPLE2);
  else {
    int(channels);
    out.push(TUPLE3);
  }
  out.push(GLOBAL);
  text("numpy\ndtype\n");
  unicode("u1");
  out.push(NEWFALSE, NEWTRUE, TUPLE3, REDUCE, MARK, BININT1, 3);
  unicode("|");
  out.push(NONE, NONE, NONE, BININT, 255, 255, 255, 255);
  out.push(BININT, 255, 255, 255, 255, BININT1, 0, TUPLE, BUILD);
  out.push(NEWFALSE, BINBYTES, ...u32(height * width * channels));
  return {
    prefix: new Uint8Array(out),
    suffix: new Uint8Array([TUPLE, BUILD, STOP]),
  };
}

/**
 * Pickles a picture as a numpy `uint8` array.
 *
 * @param array The picture.
 * @returns What `pickle.loads` turns into the same array.
 */
export function pickleArray(array: PixelArray): Uint8Array {
  const { height, width, channels, pixels } = array;
  const { prefix, suffix } = pickleParts(height, width, channels);
  const out = new Uint8Array(prefix.length + pixels.length + suffix.length);
  out.set(prefix);
  out.set(pixels, prefix.length);
  out.set(suffix, prefix.length + pixels.length);
  return out;
}

/**
 * Reads a pickled numpy `uint8` array of a picture's shape, `(h, w)` or
 * `(h, w, 1|3|4)`, as numpy pickles it (protocol 2 to 5, numpy 1.x or
 * 2.x, C or Fortran order), without running anything.
 *
 * @param bytes One pickle.
 * @param limits Largest side and size accepted.
 * @returns The picture, its pixels in C order.
 * @throws {PickleRefused} For anything else: another callable or type, an
 * opcode it does not know, a bad shape, a truncated pickle.
 */
export function unpickleArray(
  bytes: Uint8Array,
  limits: PickleLimits = {},
): PixelArray {
  const value = new PickleMachine(bytes).run();
  if (!(value instanceof NdArray)) {
    throw new PickleRefused(`it holds ${describe(value)}, not a numpy array`);
  }
  return checkArray(value, limits);
}

/** Runs a pickle's opcodes over a stack of plain values. */
class PickleMachine {
  #bytes: Uint8Array;
  #view: DataView;
  #pos = 0;
  #stack: (Value | typeof MARK_VALUE)[] = [];
  #memo: Value[] = [];

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  }

  run(): Value {
    if (this.#bytes[0] !== PROTO || (this.#bytes[1] ?? 0) < 2) {
      throw new PickleRefused(
        "it is not a pickle of protocol 2 or higher",
      );
    }
    while (true) {
      const at = this.#pos;
      const op = this.#u8();
      if (op === STOP) break;
      this.#step(op, at);
      if (this.#stack.length > MAX_ITEMS || this.#memo.length > MAX_ITEMS) {
        throw new PickleRefused("it is far too deep for a numpy array");
      }
    }
    if (this.#stack.length !== 1) {
      throw new PickleRefused("it does not end with one value");
    }
    return this.#pop();
  }

  #step(op: number, at: number): void {
    switch (op) {
      case PROTO:
        if (this.#u8() > 5) throw new PickleRefused("unknown protocol");
        return;
      case FRAME:
        this.#take(8); // a length hint for readers that buffer
        return;
      case GLOBAL: {
        const module = this.#line();
        this.#push(global(`${module}.${this.#line()}`));
        return;
      }
      case STACK_GLOBAL: {
        const name = this.#pop();
        const module = this.#pop();
        if (typeof module !== "string" || typeof name !== "string") {
          throw new PickleRefused("it names a global oddly");
        }
        this.#push(global(`${module}.${name}`));
        return;
      }
      case BINUNICODE:
        return this.#push(utf8(this.#take(this.#u32())));
      case SHORT_BINUNICODE:
        return this.#push(utf8(this.#take(this.#u8())));
      case BINUNICODE8:
        return this.#push(utf8(this.#take(this.#u64())));
      case SHORT_BINBYTES:
      case SHORT_BINSTRING:
        return this.#push(this.#take(this.#u8()));
      case BINBYTES:
      case BINSTRING:
        return this.#push(this.#take(this.#u32()));
      case BINBYTES8:
      case BYTEARRAY8:
        return this.#push(this.#take(this.#u64()));
      case BININT1:
        return this.#push(this.#u8());
      case BININT2:
        return this.#push(this.#u8() | (this.#u8() << 8));
      case BININT:
        this.#need(4);
        this.#pos += 4;
        return this.#push(this.#view.getInt32(this.#pos - 4, true));
      case LONG1:
        return this.#push(this.#long(this.#u8()));
      case NONE:
        return this.#push(null);
      case NEWTRUE:
        return this.#push(true);
      case NEWFALSE:
        return this.#push(false);
      case EMPTY_TUPLE:
        return this.#push([]);
      case TUPLE1:
      case TUPLE2:
      case TUPLE3: {
        const n = op - TUPLE1 + 1;
        const items: Value[] = [];
        for (let i = 0; i < n; i++) items.unshift(this.#pop());
        return this.#push(items);
      }
      case MARK:
        this.#stack.push(MARK_VALUE);
        return;
      case TUPLE:
        return this.#push(this.#popToMark());
      case REDUCE: {
        const args = this.#pop();
        return this.#push(reduce(this.#pop(), args));
      }
      case BUILD: {
        const state = this.#pop();
        const target = this.#pop();
        build(target, state);
        return this.#push(target);
      }
      case BINPUT:
        return this.#put(this.#u8());
      case LONG_BINPUT:
        return this.#put(this.#u32());
      case MEMOIZE:
        return this.#put(this.#memo.length);
      case BINGET:
        return this.#get(this.#u8());
      case LONG_BINGET:
        return this.#get(this.#u32());
      default:
        throw new PickleRefused(
          `it uses pickle opcode 0x${
            op.toString(16).padStart(2, "0")
          } at byte ${at}, which a numpy array does not need`,
        );
    }
  }

  #push(value: Value): void {
    this.#stack.push(value);
  }

  #pop(): Value {
    const value = this.#stack.pop();
    if (value === undefined || value === MARK_VALUE) {
      throw new PickleRefused("its stack runs short (a broken pickle)");
    }
    return value;
  }

  #popToMark(): Value[] {
    const at = this.#stack.lastIndexOf(MARK_VALUE);
    if (at === -1) throw new PickleRefused("a tuple without its mark");
    const items = this.#stack.splice(at) as Value[];
    items.shift();
    return items;
  }

  #put(index: number): void {
    if (index > MAX_ITEMS) throw new PickleRefused("its memo is far too big");
    const top = this.#stack.at(-1);
    if (top === undefined || top === MARK_VALUE) {
      throw new PickleRefused("it memoizes nothing");
    }
    this.#memo[index] = top;
  }

  #get(index: number): void {
    const value = this.#memo[index];
    if (value === undefined) {
      throw new PickleRefused(`it reads memo ${index}, never written`);
    }
    this.#push(value);
  }

  #need(n: number): void {
    if (this.#pos + n > this.#bytes.length) {
      throw new PickleRefused("it is cut short");
    }
  }

  #u8(): number {
    this.#need(1);
    return this.#bytes[this.#pos++]!;
  }

  #u32(): number {
    this.#need(4);
    this.#pos += 4;
    return this.#view.getUint32(this.#pos - 4, true);
  }

  #u64(): number {
    this.#need(8);
    this.#pos += 8;
    const n = this.#view.getBigUint64(this.#pos - 8, true);
    if (n > BigInt(this.#bytes.length)) {
      throw new PickleRefused("it is cut short");
    }
    return Number(n);
  }

  #long(size: number): number {
    if (size > 6) throw new PickleRefused("it holds a huge integer");
    const bytes = this.#take(size);
    let n = 0;
    for (let i = size - 1; i >= 0; i--) n = n * 256 + bytes[i]!;
    if (size > 0 && bytes[size - 1]! >= 0x80) n -= 2 ** (8 * size);
    return n;
  }

  #take(n: number): Uint8Array {
    this.#need(n);
    this.#pos += n;
    return this.#bytes.subarray(this.#pos - n, this.#pos);
  }

  /** A GLOBAL operand: text up to a newline. */
  #line(): string {
    const end = this.#bytes.indexOf(0x0a, this.#pos);
    if (end === -1 || end - this.#pos > 200) {
      throw new PickleRefused("it names a global oddly");
    }
    const text = new TextDecoder().decode(this.#bytes.subarray(this.#pos, end));
    this.#pos = end + 1;
    return text;
  }
}

function utf8(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

/** A named global, if it is one a numpy array needs. */
function global(path: string): Global {
  if (!ALLOWED.has(path)) {
    throw new PickleRefused(
      `it names the Python callable ${JSON.stringify(path)}; only a numpy ` +
        "uint8 array is accepted (unpickling anything else can run code)",
    );
  }
  return new Global(path);
}

/** Calls one of the allowed globals, as pickle's REDUCE does. */
function reduce(callable: Value, args: Value): Value {
  if (!(callable instanceof Global) || !Array.isArray(args)) {
    throw new PickleRefused(`it calls ${describe(callable)}`);
  }
  const name = callable.path.split(".").pop();
  if (name === "encode") {
    // Python 3 bytes under protocol 2: _codecs.encode(text, "latin1").
    const [text, codec] = args;
    if (typeof text !== "string" || !/^latin-?1$/.test(String(codec))) {
      throw new PickleRefused("it encodes text oddly");
    }
    return latin1(text);
  }
  if (name === "dtype") {
    const [type] = args;
    const text = type instanceof Uint8Array ? utf8(type) : type;
    if (text !== "u1" && text !== "uint8") {
      throw new PickleRefused(
        `its array holds ${JSON.stringify(text)}, not uint8`,
      );
    }
    return new Uint8Dtype();
  }
  if (name === "_reconstruct") {
    const [type] = args;
    if (!(type instanceof Global) || type.path !== "numpy.ndarray") {
      throw new PickleRefused("it rebuilds something other than an ndarray");
    }
    return new NdArray();
  }
  if (name === "_frombuffer") {
    // Protocol 5: _frombuffer(buffer, dtype, shape, order).
    const [buffer, dtype, shape, order] = args;
    const array = new NdArray();
    fill(array, shape, dtype, order === "F", buffer);
    return array;
  }
  throw new PickleRefused(`it calls ${callable.path}`);
}

/** Applies a BUILD state: an ndarray's or its dtype's. */
function build(target: Value, state: Value): void {
  if (target instanceof Uint8Dtype) {
    // (version, byteorder, subarray, names, fields, ...): none of a
    // structured type.
    if (!Array.isArray(state) || state[2] != null || state[3] != null) {
      throw new PickleRefused("its dtype is not plain uint8");
    }
    return;
  }
  if (!(target instanceof NdArray) || !Array.isArray(state)) {
    throw new PickleRefused(`it sets the state of ${describe(target)}`);
  }
  // (version, shape, dtype, is_fortran, data), the version left out by
  // the oldest numpys.
  const fields = state.length === 5 ? state.slice(1) : state;
  if (fields.length !== 4) throw new PickleRefused("its array state is odd");
  const [shape, dtype, fortran, data] = fields;
  fill(target, shape, dtype, fortran === true || fortran === 1, data);
}

function fill(
  array: NdArray,
  shape: Value | undefined,
  dtype: Value | undefined,
  fortran: boolean,
  data: Value | undefined,
): void {
  if (!(dtype instanceof Uint8Dtype)) {
    throw new PickleRefused("its array is not of uint8");
  }
  if (
    !Array.isArray(shape) ||
    !shape.every((n) => typeof n === "number" && Number.isSafeInteger(n))
  ) {
    throw new PickleRefused("its array has no proper shape");
  }
  if (!(data instanceof Uint8Array)) {
    throw new PickleRefused("its array has no bytes");
  }
  array.shape = shape as number[];
  array.data = data;
  array.fortran = fortran;
}

/** The array, if its shape is a picture's and its bytes fit it. */
function checkArray(array: NdArray, limits: PickleLimits): PixelArray {
  const { shape, data } = array;
  if (shape === undefined || data === undefined) {
    throw new PickleRefused("its array was never filled");
  }
  const maxSide = limits.maxSide ?? 16384;
  const maxBytes = limits.maxBytes ?? 64 * 1024 * 1024;
  const [height = 0, width = 0, channels = 1] = shape;
  const sane = (shape.length === 2 || shape.length === 3) &&
    height >= 1 && height <= maxSide && width >= 1 && width <= maxSide &&
    (channels === 1 || channels === 3 || channels === 4) &&
    height * width * channels <= maxBytes;
  if (!sane) {
    throw new PickleRefused(
      `its array's shape (${shape.join(", ")}) is not a picture's ` +
        `((height, width) or (height, width, 1|3|4), sides up to ${maxSide})`,
    );
  }
  const size = height * width * channels;
  if (data.length !== size) {
    throw new PickleRefused(
      `its array holds ${data.length} bytes, not the ${size} of its shape`,
    );
  }
  const pixels = array.fortran
    ? toRowMajor(data, height, width, channels)
    : data;
  return { height, width, channels: channels as 1 | 3 | 4, pixels };
}

/** Reorders column-major (Fortran) pixels row after row. */
function toRowMajor(
  data: Uint8Array,
  height: number,
  width: number,
  channels: number,
): Uint8Array {
  const out = new Uint8Array(data.length);
  let i = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        out[i++] = data[y + height * (x + width * c)]!;
      }
    }
  }
  return out;
}

function latin1(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0xff) throw new PickleRefused("it encodes text oddly");
    out[i] = code;
  }
  return out;
}

function u32(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];
}

function describe(value: Value): string {
  if (value === null) return "None";
  if (value instanceof Global) return value.path;
  if (value instanceof Uint8Array) return "bytes";
  if (value instanceof NdArray) return "an array";
  if (value instanceof Uint8Dtype) return "a dtype";
  if (Array.isArray(value)) return "a tuple";
  if (typeof value === "string") return "a str";
  return typeof value === "number" ? "an int" : "a bool";
}
