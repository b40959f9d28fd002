// Copyright 2026 the camwire authors. MIT license.
/**
 * The floor of a V4L2 passthrough server in Deno, for bench/peer.ts: the
 * least a Deno program can do per frame to serve camwire's wire from a
 * camera, and nothing else. One loop: wait for the camera (poll through
 * FFI, off the event loop, as camwire waits), DQBUF, copy the JPEG out,
 * QBUF, stamp it in place as camwire does (one buffer a frame), and
 * `send(2)` it to each TCP viewer; no checks, no newest-frame rule (a
 * frame a socket does not take whole is cut short: the bench's viewers
 * always take it), no timers, no logs.
 * What camwire costs per frame beyond this is camwire's; what this costs
 * beyond ustreamer is Deno's. Not a server to use.
 *
 * ```sh
 * CAMWIRE_LIBC=fake_camera.so deno run -A bench/deno_floor.ts DEVICE
 * ```
 *
 * Prints `floor: streaming on tcp://127.0.0.1:PORT` on stderr.
 *
 * @module
 */

import { stampableBuffer, stampFrame } from "../common/jpeg.ts";

const lib = Deno.dlopen(Deno.env.get("CAMWIRE_LIBC") || "libc.so.6", {
  open: { parameters: ["buffer", "i32"], result: "i32" },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  poll: {
    parameters: ["buffer", "usize", "i32"],
    result: "i32",
    nonblocking: true,
  },
  mmap: {
    parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"],
    result: "pointer",
  },
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
});

/** From <linux/videodev2.h> (64-bit); see server/camera/v4l2_abi.ts. */
const VIDIOC_S_FMT = 0xc0d05605n;
const VIDIOC_REQBUFS = 0xc0145608n;
const VIDIOC_QUERYBUF = 0xc0585609n;
const VIDIOC_QBUF = 0xc058560fn;
const VIDIOC_DQBUF = 0xc0585611n;
const VIDIOC_STREAMON = 0x40045612n;
const MSG_DONTWAIT_NOSIGNAL = 0x40 | 0x4000;

function main(): void {
  const device = Deno.args[0]!;
  const fd = lib.symbols.open(
    new TextEncoder().encode(device + "\0"),
    2 | 0o4000, // O_RDWR | O_NONBLOCK
  );
  if (fd < 0) throw new Error(`Cannot open ${device}`);
  const format = new DataView(new ArrayBuffer(208));
  format.setUint32(0, 1, true); // VIDEO_CAPTURE
  format.setUint32(8, 320, true);
  format.setUint32(12, 240, true);
  format.setUint32(16, 0x47504a4d, true); // MJPG
  lib.symbols.ioctl(fd, VIDIOC_S_FMT, new Uint8Array(format.buffer));
  const request = new DataView(new ArrayBuffer(20));
  request.setUint32(0, 4, true); // count
  request.setUint32(4, 1, true); // type
  request.setUint32(8, 1, true); // MMAP
  lib.symbols.ioctl(fd, VIDIOC_REQBUFS, new Uint8Array(request.buffer));
  const buf = new Uint8Array(88);
  const view = new DataView(buf.buffer);
  const mapped: Deno.PointerValue[] = [];
  for (let i = 0; i < 4; i++) {
    buf.fill(0);
    view.setUint32(0, i, true);
    view.setUint32(4, 1, true);
    view.setUint32(60, 1, true);
    lib.symbols.ioctl(fd, VIDIOC_QUERYBUF, buf);
    mapped.push(
      lib.symbols.mmap(
        null,
        BigInt(view.getUint32(72, true)),
        3,
        1,
        fd,
        BigInt(view.getUint32(64, true)),
      ),
    );
    lib.symbols.ioctl(fd, VIDIOC_QBUF, buf);
  }
  lib.symbols.ioctl(fd, VIDIOC_STREAMON, new Uint8Array([1, 0, 0, 0]));
  const viewers: number[] = [];
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  acceptViewers(listener, viewers);
  const pollFd = new DataView(new ArrayBuffer(8));
  pollFd.setInt32(0, fd, true);
  pollFd.setInt16(4, 1, true); // POLLIN
  const pollArg = new Uint8Array(pollFd.buffer);
  const take = () => {
    view.setUint32(4, 1, true);
    view.setUint32(60, 1, true);
    if (lib.symbols.ioctl(fd, VIDIOC_DQBUF, buf) !== 0) return;
    const jpeg = stampableBuffer(view.getUint32(8, true)); // as camwire
    Deno.UnsafePointerView.copyInto(mapped[view.getUint32(0, true)]!, jpeg);
    lib.symbols.ioctl(fd, VIDIOC_QBUF, buf);
    const frame = stampFrame(jpeg, performance.timeOrigin + performance.now());
    const length = BigInt(frame.length);
    for (const viewer of viewers) {
      lib.symbols.send(viewer, frame, length, MSG_DONTWAIT_NOSIGNAL);
    }
  };
  const wait = (ready: number) => {
    if (ready > 0) take();
    lib.symbols.poll(pollArg, 1n, 1000).then(wait);
  };
  wait(0);
  console.error(
    `floor: streaming on tcp://127.0.0.1:${
      (listener.addr as Deno.NetAddr).port
    }`,
  );
}

/** Accepts viewers, each by its fd: the newest socket in /proc/self/fd. */
async function acceptViewers(
  listener: Deno.Listener,
  viewers: number[],
): Promise<void> {
  const conns: Deno.Conn[] = []; // kept open
  for await (const conn of listener) {
    conns.push(conn);
    const fd = newestSocket(viewers);
    if (fd !== -1) viewers.push(fd);
  }
}

/** The highest-numbered socket fd that is not one of `known`, or -1. */
function newestSocket(known: number[]): number {
  let newest = -1;
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    const n = Number(entry.name);
    if (known.includes(n) || n <= newest) continue;
    try {
      if (Deno.readLinkSync(`/proc/self/fd/${n}`).startsWith("socket:")) {
        newest = n;
      }
    } catch {
      // The directory's own fd.
    }
  }
  return newest;
}

if (import.meta.main) main();
