// Copyright 2026 the camwire authors. MIT license.
/**
 * A test viewer of the pickle port (`--pickle-port`): reads u64-framed
 * pickles in the background and keeps the newest.
 *
 * @module
 */

import { Deframer } from "../framing.ts";

/** A pickle-port viewer that keeps every pickle it reads. */
export class PickleReader {
  /** The newest pickles, up to 50. */
  readonly frames: Uint8Array[] = [];
  /** Pickles read in all. */
  count = 0;
  bytes = 0;
  readonly ended: Promise<void>;
  #conn: Deno.Conn;

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
    this.ended = this.#read();
  }

  /**
   * Connects to `127.0.0.1:port`.
   *
   * @param port The pickle port.
   * @param line What to send first (a token line), if anything.
   */
  static async connect(port: number, line?: string): Promise<PickleReader> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    if (line !== undefined) await conn.write(new TextEncoder().encode(line));
    return new PickleReader(conn);
  }

  async #read(): Promise<void> {
    const deframer = new Deframer({ anyPayload: true });
    try {
      for await (const chunk of this.#conn.readable) {
        this.bytes += chunk.length;
        for (const pickle of deframer.push(chunk)) {
          this.count++;
          this.frames.push(pickle.slice());
          if (this.frames.length > 50) this.frames.shift(); // bounded
        }
      }
    } catch {
      // Closed by us or by the server.
    }
  }

  /** Closes the connection and waits for the reader to stop. */
  async close(): Promise<void> {
    try {
      this.#conn.close();
    } catch {
      // The readable stream closed it already.
    }
    await this.ended;
  }
}
