// Copyright 2026 the camwire authors. MIT license.
/**
 * A minimal Chrome DevTools Protocol client on Deno's own WebSocket, and a
 * headless Chromium to drive with it: enough for tests that load a page,
 * evaluate scripts in it and collect its console errors.
 *
 * @module
 */

import { message } from "../common/cli.ts";
import { sleep } from "../common/time.ts";

/** Where the Chromium binary is. */
export const CHROMIUM = "/usr/bin/chromium";

/** A DevTools message's parameters or result. */
export type Json = Record<string, unknown>;

/** A DevTools event as received. */
export interface CdpEvent {
  /** e.g. `Runtime.consoleAPICalled`. */
  method: string;
  params: Json;
  /** The page session it came from; none for browser events. */
  sessionId?: string;
}

/** Settles like `promise`, or rejects after `ms` with `reason`. */
async function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  reason: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(reason)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A DevTools protocol connection: commands with ids and timeouts, and every
 * event kept in {@linkcode DevTools.events}.
 *
 * @example Ask a running browser for its version
 * ```ts ignore
 * const devtools = await DevTools.connect("ws://127.0.0.1:9222/devtools/browser/…");
 * const { product } = await devtools.send("Browser.getVersion");
 * await devtools.close();
 * ```
 */
export class DevTools {
  /** Every event received so far, oldest first. */
  readonly events: CdpEvent[] = [];
  readonly #ws: WebSocket;
  readonly #opened: Promise<void>;
  readonly #closed: Promise<void>;
  #nextId = 0;
  #pending = new Map<
    number,
    { resolve: (result: Json) => void; reject: (error: Error) => void }
  >();

  /**
   * Starts connecting; {@linkcode DevTools.connect} also waits for it.
   *
   * @param url The `ws://` DevTools URL.
   */
  constructor(url: string) {
    const ws = new WebSocket(url);
    this.#ws = ws;
    this.#opened = new Promise((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error(`Cannot connect to ${url}`));
    });
    this.#opened.catch(() => {}); // awaited in connect()
    this.#closed = new Promise((resolve) => {
      ws.onclose = () => {
        for (const { reject } of this.#pending.values()) {
          reject(new Error("The DevTools connection closed"));
        }
        this.#pending.clear();
        resolve();
      };
    });
    ws.onmessage = (event) => this.#receive(JSON.parse(event.data));
  }

  /**
   * Opens a connection to a `ws://` DevTools URL.
   *
   * @param url The URL Chromium printed.
   * @returns The open connection.
   * @throws {Error} When it does not open within 10 s.
   */
  static async connect(url: string): Promise<DevTools> {
    const devtools = new DevTools(url);
    try {
      await withTimeout(devtools.#opened, 10_000, `Cannot connect to ${url}`);
    } catch (error) {
      await devtools.close();
      throw error;
    }
    return devtools;
  }

  #receive(received: Json): void {
    if (typeof received.id !== "number") {
      this.events.push(received as unknown as CdpEvent);
      return;
    }
    const pending = this.#pending.get(received.id);
    this.#pending.delete(received.id);
    const error = received.error as { message: string } | undefined;
    if (error) pending?.reject(new Error(error.message));
    else pending?.resolve(received.result as Json);
  }

  /**
   * Sends a command and waits for its result.
   *
   * @param method e.g. `Page.navigate`.
   * @param params Its parameters.
   * @param sessionId The target session, for page commands.
   * @param timeoutMs How long to wait for the answer.
   * @returns The command's result.
   * @throws {Error} On an error answer, no answer in time or a closed
   * connection.
   */
  send(
    method: string,
    params: Json = {},
    sessionId?: string,
    timeoutMs = 10_000,
  ): Promise<Json> {
    const id = ++this.#nextId;
    const answer = new Promise<Json>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      try {
        this.#ws.send(JSON.stringify({ id, method, params, sessionId }));
      } catch (error) {
        this.#pending.delete(id);
        reject(error);
      }
    });
    return withTimeout(answer, timeoutMs, `${method}: no answer in time`)
      .catch((error) => {
        this.#pending.delete(id);
        throw new Error(`DevTools ${method} failed: ${message(error)}`);
      });
  }

  /** Closes the connection and waits until it is closed. */
  async close(): Promise<void> {
    if (this.#ws.readyState !== WebSocket.CLOSED) this.#ws.close();
    await this.#closed;
  }
}

/** A page (tab) attached with a flat session. */
export class Page {
  #devtools: DevTools;
  #sessionId: string;

  /**
   * @param devtools The browser's connection.
   * @param sessionId From `Target.attachToTarget` with `flatten: true`.
   */
  constructor(devtools: DevTools, sessionId: string) {
    this.#devtools = devtools;
    this.#sessionId = sessionId;
  }

  /**
   * Sends a command to this page ({@linkcode DevTools.send}).
   *
   * @param method e.g. `Runtime.enable`.
   * @param params Its parameters.
   * @param timeoutMs How long to wait for the answer.
   * @returns The command's result.
   */
  send(method: string, params: Json = {}, timeoutMs?: number): Promise<Json> {
    return this.#devtools.send(method, params, this.#sessionId, timeoutMs);
  }

  /**
   * Navigates and waits for the answer (the response has arrived).
   *
   * @param url Where to.
   * @throws {Error} When the page cannot be loaded.
   */
  async navigate(url: string): Promise<void> {
    const { errorText } = await this.send("Page.navigate", { url });
    if (errorText) throw new Error(`Cannot load ${url}: ${errorText}`);
  }

  /**
   * Evaluates an expression in the page, awaiting a promise it returns.
   *
   * @param expression Page script.
   * @param timeoutMs How long it may take.
   * @returns Its value, as JSON carries it.
   * @throws {Error} When the script throws.
   */
  async evaluate<T>(expression: string, timeoutMs?: number): Promise<T> {
    const reply = await this.send("Runtime.evaluate", {
      expression,
      awaitPromise: true,
      returnByValue: true,
    }, timeoutMs);
    if (reply.exceptionDetails) {
      throw new Error(
        `The page script failed: ${JSON.stringify(reply.exceptionDetails)}`,
      );
    }
    return (reply.result as { value: T }).value;
  }

  /**
   * Sets the window's size in CSS pixels, as a desktop window or a phone
   * (touch, mobile viewport rules).
   *
   * @param width Viewport width.
   * @param height Viewport height.
   * @param mobile Emulate a phone.
   */
  async setViewport(
    width: number,
    height: number,
    mobile = false,
  ): Promise<void> {
    await this.send("Emulation.setDeviceMetricsOverride", {
      width,
      height,
      deviceScaleFactor: mobile ? 2 : 1,
      mobile,
    });
  }

  /**
   * Takes a screenshot of the viewport.
   *
   * @returns PNG bytes.
   */
  async screenshot(): Promise<Uint8Array> {
    const { data } = await this.send("Page.captureScreenshot", {
      format: "png",
    });
    return Uint8Array.from(atob(data as string), (c) => c.charCodeAt(0));
  }

  /**
   * What the page reported as errors so far: console.error calls, uncaught
   * exceptions and error log entries, each as one line.
   *
   * @param options `ignoreNetwork`: leave out failed requests (the
   * browser's own log lines, e.g. while the server is down on purpose).
   * @returns The lines; empty when all went well.
   */
  errors(options: { ignoreNetwork?: boolean } = {}): string[] {
    const lines: string[] = [];
    for (const event of this.#devtools.events) {
      if (event.sessionId !== this.#sessionId) continue;
      const params = event.params;
      if (
        event.method === "Runtime.consoleAPICalled" &&
        (params.type === "error" || params.type === "assert")
      ) {
        const args = params.args as { value?: unknown; description?: string }[];
        const text = args.map((a) => a.description ?? String(a.value));
        lines.push(`console.${params.type}: ${text.join(" ")}`);
      } else if (event.method === "Runtime.exceptionThrown") {
        const details = params.exceptionDetails as {
          text: string;
          exception?: { description?: string };
        };
        lines.push(`${details.text} ${details.exception?.description ?? ""}`);
      } else if (event.method === "Log.entryAdded") {
        const entry = params.entry as {
          level: string;
          text: string;
          source?: string;
          url?: string;
        };
        // A request that failed while a test had stopped the server.
        if (options.ignoreNetwork && entry.source === "network") continue;
        if (entry.level === "error") {
          lines.push(`log: ${entry.text} ${entry.url ?? ""}`);
        }
      }
    }
    return lines;
  }
}

/** A headless Chromium made by {@linkcode launchChromium}. */
export interface Chromium {
  /** The browser-wide connection. */
  devtools: DevTools;
  /** Opens a new tab and enables the events {@linkcode Page.errors} needs. */
  newPage(): Promise<Page>;
  /** Saves every download to `dir`, under the name the page gave it. */
  allowDownloads(dir: string): Promise<void>;
  /** Closes the browser, kills what is left of it, deletes its profile. */
  close(): Promise<void>;
}

/**
 * Starts a headless Chromium with a temporary profile and connects to its
 * DevTools port.
 *
 * @param path The Chromium binary.
 * @returns The browser; call its `close()` when done.
 * @throws {Error} When it does not start or prints no DevTools URL within
 * 20 s; the message then holds the start of its stderr.
 *
 * @example Load a page and check it reported no errors
 * ```ts ignore
 * import assert from "node:assert/strict";
 * const browser = await launchChromium();
 * try {
 *   const page = await browser.newPage();
 *   await page.navigate("http://127.0.0.1:8080/");
 *   assert.equal(await page.evaluate<string>("document.title"), "camwire");
 *   assert.deepEqual(page.errors(), []);
 * } finally {
 *   await browser.close();
 * }
 * ```
 */
export async function launchChromium(
  path: string = CHROMIUM,
): Promise<Chromium> {
  const dir = await Deno.makeTempDir({ prefix: "camwire-chromium-" });
  const command = new Deno.Command(path, {
    args: [
      "--headless=new",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--disable-dev-shm-usage",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--remote-debugging-port=0",
      `--user-data-dir=${dir}`,
      "about:blank",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  });
  let child: Deno.ChildProcess;
  try {
    child = command.spawn();
  } catch (error) {
    await removeDir(dir);
    throw new Error(`Cannot start ${path}: ${message(error)}`);
  }
  // Drain stderr to the end (Chromium is chatty), keeping the start only.
  const stderr = child.stderr.pipeThrough(new TextDecoderStream())
    .getReader();
  let log = "";
  const { promise: listening, resolve: found } = Promise.withResolvers<
    string
  >();
  const drained = (async () => {
    while (true) {
      const { value, done } = await stderr.read();
      if (done) return;
      if (log.length > 100_000) continue;
      log += value;
      const match = log.match(/DevTools listening on (ws:\/\/\S+)/);
      if (match) found(match[1]!);
    }
  })().catch(() => {});
  let devtools: DevTools | undefined;
  const close = async () => {
    if (devtools) {
      await devtools.send("Browser.close", {}, undefined, 3000).catch(() => {});
      await devtools.close();
    }
    // Its helper processes end with it, even when it is killed.
    await withTimeout(child.status, 5000, "").catch(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // It has just exited.
      }
    });
    await child.status;
    await stderr.cancel().catch(() => {});
    await drained;
    await removeDir(dir);
  };
  try {
    const url = await withTimeout(
      Promise.race([
        listening,
        child.status.then(({ code }) => {
          throw new Error(`Chromium exited with ${code}`);
        }),
      ]),
      20_000,
      "Chromium printed no DevTools URL",
    );
    devtools = await DevTools.connect(url);
  } catch (error) {
    await close();
    throw new Error(
      `Cannot drive Chromium: ${message(error)}; its stderr:\n${log}`,
    );
  }
  const browser = devtools;
  return {
    devtools: browser,
    async newPage() {
      const { targetId } = await browser.send("Target.createTarget", {
        url: "about:blank",
      });
      const { sessionId } = await browser.send("Target.attachToTarget", {
        targetId,
        flatten: true,
      });
      const page = new Page(browser, sessionId as string);
      for (const domain of ["Runtime", "Log", "Page"]) {
        await page.send(`${domain}.enable`);
      }
      return page;
    },
    async allowDownloads(dir) {
      await browser.send("Browser.setDownloadBehavior", {
        behavior: "allow",
        downloadPath: dir,
      });
    },
    close,
  };
}

/** Deletes a directory tree, retrying while a dying process writes to it. */
async function removeDir(dir: string): Promise<void> {
  for (let attempt = 1;; attempt++) {
    try {
      await Deno.remove(dir, { recursive: true });
      return;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      if (attempt === 5) throw error;
      await sleep(200);
    }
  }
}
