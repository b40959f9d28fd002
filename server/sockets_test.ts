// Copyright 2026 the camwire authors. MIT license.
import assert from "node:assert/strict";
import {
  DirectSender,
  limitSendQueue,
  SEND_FAILED,
  WOULD_BLOCK,
} from "./sockets.ts";
import { eventually } from "../testing/util.ts";

// libc is loaded once per process and kept: load it before any test, so
// that the resource sanitizer does not count it against the first one.
const direct = DirectSender.open();

/** A connected loopback pair: `server` accepted, `client` connected. */
async function loopbackPair(sendQueue = 0) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  if (sendQueue > 0) {
    assert.equal(limitSendQueue(listener.addr.port, sendQueue), "");
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

Deno.test("DirectSender reports a full socket, then a broken one", async () => {
  assert.ok(direct !== null);
  const { server, client } = await loopbackPair(8192);
  try {
    const fd = fdOf(direct, server);
    const frame = new Uint8Array(8192);
    let sent = 0;
    let result = 0;
    for (let i = 0; i < 1000 && result !== WOULD_BLOCK; i++) {
      result = direct.send(fd, frame);
      sent += Math.max(result, 0);
    }
    // The peer never reads: its receive buffer fills, then our bounded
    // unsent queue, and then the socket takes nothing more.
    assert.equal(result, WOULD_BLOCK);
    assert.ok(sent < 1_000_000, `${sent} bytes went into a stalled socket`);
    client.close();
    assert.ok(
      await eventually(() => direct.send(fd, frame) === SEND_FAILED),
      "a send to a closed peer did not fail",
    );
    direct.release(fd);
  } finally {
    server.close();
  }
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
