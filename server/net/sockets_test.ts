// Copyright 2026 the camwire authors. MIT license.
import assert from "node:assert/strict";
import {
  DirectSender,
  limitSendQueue,
  SEND_FAILED,
  SocketOptionError,
  WOULD_BLOCK,
} from "./sockets.ts";
import { eventually } from "../../testing/util.ts";

// libc is loaded once per process and kept: load it before any test, so
// that the resource sanitizer does not count it against the first one.
const direct = DirectSender.open();

/** A connected loopback pair: `server` accepted, `client` connected. */
async function loopbackPair(sendQueue = 0) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    if (sendQueue > 0) limitSendQueue(listener.addr.port, sendQueue);
  } catch (error) {
    listener.close();
    throw error;
  }
  const client = await Deno.connect({
    hostname: "127.0.0.1",
    port: listener.addr.port,
  });
  const server = await listener.accept();
  listener.close();
  return { server, client };
}

/** Finds the fd of `conn` with a scan. */
function fdOf(direct: DirectSender, conn: Deno.TcpConn): number {
  let found = -1;
  direct.lookUp(conn, (fd) => found = fd);
  assert.ok(direct.pending);
  direct.scan();
  assert.ok(found > 2, "the scan did not find the socket");
  assert.ok(!direct.pending);
  return found;
}

Deno.test("DirectSender finds a connection's fd and sends on it", async () => {
  assert.ok(direct !== null, "no libc on this Linux machine");
  const { server, client } = await loopbackPair();
  try {
    const fd = fdOf(direct, server);
    const bytes = new Uint8Array(10_000).map((_, i) => i & 0xff);
    assert.equal(direct.send(fd, bytes), bytes.length);
    const received = new Uint8Array(bytes.length);
    let have = 0;
    while (have < bytes.length) {
      have += (await client.read(received.subarray(have)))!;
    }
    assert.deepEqual(received, bytes);
    direct.release(fd);
  } finally {
    server.close();
    client.close();
  }
});

Deno.test("limitSendQueue keeps a stalled socket far below an unbounded one", async () => {
  const bounded = await fillStalledSocket(16384);
  const unbounded = await fillStalledSocket(0);
  // Loopback takes about 160 KB with the bound (mostly the peer's receive
  // buffer) and about 3.9 MB without: the margins leave room for other
  // kernels' defaults.
  assert.ok(bounded < 1_000_000, `${bounded} bytes went into a bounded socket`);
  assert.ok(
    unbounded > 2 * bounded,
    `the bound made no difference: ${bounded} bytes bounded, ${unbounded} unbounded`,
  );
});

Deno.test("limitSendQueue throws SocketOptionError for a port with no listener", () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  assert.throws(
    () => limitSendQueue(port, 16384),
    (error) =>
      error instanceof SocketOptionError &&
      error.message === "listening socket not found in /proc",
  );
});

Deno.test("DirectSender gives up a connection it cannot find", async () => {
  assert.ok(direct !== null);
  const { server, client } = await loopbackPair();
  try {
    let found = false;
    // An address pair no socket has: as for an IPv6 connection.
    const fake = {
      localAddr: { hostname: "127.0.0.9", port: 1 },
      remoteAddr: { hostname: "127.0.0.9", port: 2 },
    } as unknown as Deno.TcpConn;
    direct.lookUp(fake, () => found = true);
    direct.scan();
    assert.ok(direct.pending && !found);
    await new Promise((resolve) => setTimeout(resolve, 2100));
    direct.scan();
    assert.ok(!direct.pending && !found);
  } finally {
    server.close();
    client.close();
  }
});

/**
 * Sends 8 KiB frames with {@linkcode DirectSender} into a loopback socket
 * whose peer never reads, until it has taken nothing for 100 ms (at most
 * 2 s and 2,000 sends), then closes the peer and expects the next sends to
 * fail.
 *
 * @param sendQueue {@linkcode limitSendQueue}'s bound; 0 for none.
 * @returns The bytes the socket took.
 */
async function fillStalledSocket(sendQueue: number): Promise<number> {
  assert.ok(direct !== null, "no libc on this Linux machine");
  const { server, client } = await loopbackPair(sendQueue);
  let clientOpen = true;
  let fd = -1;
  try {
    fd = fdOf(direct, server);
    const frame = new Uint8Array(8192);
    let sent = 0;
    let result = WOULD_BLOCK;
    let lastTaken = performance.now();
    const deadline = lastTaken + 2000;
    for (let sends = 0; sends < 2000; sends++) {
      result = direct.send(fd, frame);
      assert.notEqual(result, SEND_FAILED, "a send to a live peer failed");
      const now = performance.now();
      if (result > 0) {
        sent += result;
        lastTaken = now;
      } else if (now - lastTaken > 100 || now > deadline) {
        break;
      } else {
        // The kernel may grow the send buffer as the peer's ACKs come in.
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
    assert.equal(
      result,
      WOULD_BLOCK,
      `the socket still took bytes after ${sent}`,
    );
    client.close();
    clientOpen = false;
    assert.ok(
      await eventually(() => direct.send(fd, frame) === SEND_FAILED),
      "a send to a closed peer did not fail",
    );
    return sent;
  } finally {
    if (fd >= 0) direct.release(fd);
    server.close();
    if (clientOpen) client.close();
  }
}
