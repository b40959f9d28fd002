// Copyright 2026 the camwire authors. MIT license.
/**
 * In-process tests of the door ({@linkcode passDoor}) on real loopback
 * connections, with admission rules that slow every token check down.
 */
import assert from "node:assert/strict";
import { Admission } from "../net/admission.ts";
import { passDoor } from "./doorway.ts";
import { LogTally } from "../net/tally.ts";

/**
 * The real admission rules, with every token check made to wait
 * `delayMs`: `asked` resolves when the token line has been read and the
 * wait begins; `evict` evicts the connection waiting.
 */
function slowAdmission(delayMs: number) {
  const asked = Promise.withResolvers<void>();
  let evict = () => {};
  class SlowAdmission extends Admission {
    override enter(address: string, onEvict: () => void): () => void {
      evict = onEvict;
      return super.enter(address, onEvict);
    }
    override tokenDelay(): number {
      asked.resolve();
      return delayMs;
    }
  }
  const admission = new SlowAdmission({ maxPerAddress: 0 });
  return { admission, asked: asked.promise, evict: () => evict() };
}

/** A connection whose peer sent the right token, and its peer. */
async function withTokenSent(
  fn: (conn: Deno.Conn) => Promise<void>,
): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  const peer = await Deno.connect({ hostname: "127.0.0.1", port });
  const conn = await listener.accept();
  listener.close();
  try {
    await peer.write(new TextEncoder().encode("camwire secret\n"));
    await fn(conn);
  } finally {
    peer.close();
    try {
      conn.close();
    } catch {
      // Closed by the door.
    }
  }
}

Deno.test("passDoor: a connection evicted while its token check waits is refused (null), not made a viewer", async () => {
  await withTokenSent(async (conn) => {
    const { admission, asked, evict } = slowAdmission(300);
    const lines: string[] = [];
    const door = passDoor(conn, {
      admission,
      tally: new LogTally((line) => lines.push(line)),
      token: "secret",
      kind: "",
      inDoor: new Set(),
    });
    await asked;
    evict();
    assert.equal(await door, null);
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /evicted/);
  });
});

Deno.test("passDoor: the server stopping (its door entries closed) ends a slowed token check at once, without a viewer", async () => {
  await withTokenSent(async (conn) => {
    const { admission, asked } = slowAdmission(4000);
    const inDoor = new Set<{ close(): void }>();
    const start = performance.now();
    const door = passDoor(conn, {
      admission,
      tally: new LogTally(() => {}),
      token: "secret",
      kind: "",
      inDoor,
    });
    await asked;
    for (const entry of inDoor) entry.close();
    assert.equal(await door, null);
    assert.ok(performance.now() - start < 1000);
    assert.equal(inDoor.size, 0);
  });
});
