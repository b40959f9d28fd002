// Copyright 2026 the camwire authors. MIT license.
/**
 * `--pickle-port`: the wire of the Python tutorial camwire grew from, so
 * that its unmodified client can watch. Each frame is a u64 length, then a
 * raw BGR picture pickled as a numpy `uint8` array (28 times the bytes of
 * the JPEG port's frames). The pictures come from the same shared JPEGs,
 * decoded by one ffmpeg ({@linkcode BgrDecoder}) that runs only while
 * such viewers are connected; each picture is pickled once and sent to
 * every viewer newest-first, as on the JPEG port.
 *
 * @module
 */

import type { DeliveryTotals } from "../../common/latest.ts";
import { message } from "../../common/cli.ts";
import { BgrDecoder } from "./decoder.ts";
import { acceptEach, closeQuietly, listen } from "../net/net.ts";
import type { Admission } from "../net/admission.ts";
import { admitViewer } from "../viewers/doorway.ts";
import type { LogTally } from "../net/tally.ts";
import { dropStalled, type JpegSink, type Viewer } from "../viewers/viewers.ts";

/** What the pickle side needs from the server. */
export interface PickleHub {
  /** Where the decoder is plugged in while viewers watch. */
  readonly jpegSinks: Set<JpegSink>;
  /** Delivery counters shared with every other viewer. */
  readonly totals: DeliveryTotals;
  /**
   * Asks for a viewer slot under `--max-clients` and
   * `--max-clients-per-ip`.
   *
   * @returns A release function, or `null` when the server is full.
   */
  takeSlot(name: string, address: string): (() => void) | null;
  /** Viewers of every kind, for log lines. */
  viewerCount(): number;
  /** Called after a viewer came or went (`--on-demand`). */
  viewersChanged(): void;
}

/** Options of {@linkcode PickleSide.listen}. */
export interface PickleOptions {
  hostname: string;
  /** 0 for any free port. */
  port: number;
  /** PEM certificate and key: serve over TLS. */
  tls: { cert: string; key: string } | undefined;
  /** Viewers send `camwire <token>\n` first, as on the JPEG port. */
  token: string | undefined;
  /** Drop a viewer whose frame has not gone out for this long, in ms. */
  clientTimeoutMs: number;
  /** The ffmpeg program. */
  ffmpeg: string;
  log: (line: string) => void;
  /** The server's admission rules (pending budget, token backoff). */
  admission: Admission;
  /** Where refusals are counted. */
  tally: LogTally;
}

/**
 * The running pickle port.
 *
 * @example Serve it beside a broadcaster
 * ```ts ignore
 * const side = PickleSide.listen(hub, { hostname: "127.0.0.1", port: 0, ... });
 * console.log(side.port);
 * await side.close();
 * ```
 */
export class PickleSide {
  readonly port: number;
  #hub: PickleHub;
  #options: PickleOptions;
  #listener: Deno.Listener;
  #viewers = new Set<Viewer>();
  #pending = new Set<{ close(): void }>();
  #decoder: BgrDecoder | null = null;
  /** Closes of decoders whose viewers all left, still under way. */
  #stopping = new Set<Promise<void>>();
  /** The newest wire frame, for a viewer that just arrived. */
  #latest: Uint8Array | null = null;
  #accepting: Promise<void>;
  #closing = false;

  private constructor(
    hub: PickleHub,
    options: PickleOptions,
    listener: Deno.Listener,
  ) {
    this.#hub = hub;
    this.#options = options;
    this.#listener = listener;
    this.port = (listener.addr as Deno.NetAddr).port;
    this.#accepting = this.#acceptLoop();
  }

  /**
   * Listens and starts accepting viewers.
   *
   * @param hub The server's frames, counters and slots.
   * @param options Address, token, limits.
   * @returns The running side.
   * @throws {CamwireError} When the port cannot be had.
   */
  static listen(hub: PickleHub, options: PickleOptions): PickleSide {
    const listener = listen({
      hostname: options.hostname,
      port: options.port,
      tls: options.tls,
      flag: "--pickle-port",
    });
    return new PickleSide(hub, options, listener);
  }

  /** Connected pickle viewers. */
  get viewers(): number {
    return this.#viewers.size;
  }

  /** Drops viewers whose frame has not gone out in `clientTimeoutMs`. */
  dropStalled(now: number = performance.now()): void {
    dropStalled(this.#viewers, this.#options.clientTimeoutMs, now);
  }

  #acceptLoop(): Promise<void> {
    return acceptEach(this.#listener, (conn) => {
      this.#serve(conn).catch((error) => {
        this.#options.tally.note(
          "pickle viewer failed",
          `camwire: pickle viewer failed: ${message(error)}`,
        );
      });
    }, {
      what: `--pickle-port ${this.port}`,
      log: this.#options.log,
      tally: this.#options.tally,
      closing: () => this.#closing,
    });
  }

  #serve(conn: Deno.Conn): Promise<void> {
    return admitViewer(conn, {
      admission: this.#options.admission,
      tally: this.#options.tally,
      token: this.#options.token,
      kind: "pickle",
      inDoor: this.#pending,
    }, {
      totals: this.#hub.totals,
      closing: () => this.#closing,
      takeSlot: (name, address) => this.#hub.takeSlot(name, address),
      add: (viewer, name) => this.#add(viewer, name),
      remove: (viewer, reason) => this.#remove(viewer, reason),
    });
  }

  #add(viewer: Viewer, name: string): void {
    this.#viewers.add(viewer);
    if (this.#decoder === null) {
      const decoder = new BgrDecoder({
        ffmpeg: this.#options.ffmpeg,
        onFrame: (frame) => this.#deliver(frame),
        log: this.#options.log,
      });
      this.#decoder = decoder;
      this.#hub.jpegSinks.add(decoder);
    } else if (this.#latest !== null) {
      viewer.sender.offer(this.#latest);
    }
    this.#hub.viewersChanged();
    this.#options.log(
      `camwire: viewer ${name} connected (${this.#hub.viewerCount()} watching)`,
    );
  }

  #deliver(frame: Uint8Array): void {
    this.#latest = frame;
    for (const viewer of this.#viewers) viewer.sender.offer(frame);
  }

  #remove(viewer: Viewer, reason: string): void {
    viewer.close();
    if (!this.#viewers.delete(viewer)) return;
    if (this.#viewers.size === 0) this.#stopDecoder();
    if (this.#closing) return;
    this.#hub.viewersChanged();
    this.#options.log(
      `camwire: viewer pickle ${viewer.name} left: ${reason} ` +
        `(${this.#hub.viewerCount()} watching)`,
    );
  }

  /** Nobody watches: the decoder's ffmpeg ends, and its last picture goes. */
  #stopDecoder(): void {
    const decoder = this.#decoder;
    if (decoder === null) return;
    this.#decoder = null;
    this.#latest = null;
    this.#hub.jpegSinks.delete(decoder);
    const stopping = decoder.close();
    this.#stopping.add(stopping);
    stopping.finally(() => this.#stopping.delete(stopping));
  }

  /** Stops listening, closes every viewer and ends the decoder. */
  async close(): Promise<void> {
    this.#closing = true;
    closeQuietly(this.#listener);
    await this.#accepting;
    for (const conn of this.#pending) closeQuietly(conn);
    for (const viewer of [...this.#viewers]) this.#remove(viewer, "closed");
    this.#stopDecoder();
    await Promise.all(this.#stopping);
  }
}
