// Copyright 2026 the camwire authors. MIT license.
/**
 * Who gets in, and who cannot hog the door. Three rules, one per way a
 * connection pattern used to lock real viewers out:
 *
 * 1. **Connections that still owe something** — their token, their TLS
 *    handshake, their request headers — hold a place in a small budget of
 *    their own (per address and in total), never a `--max-clients` slot.
 *    When it is full, the oldest of them is closed to make room: 1,000
 *    silent connections then hold nothing a real viewer needs. A real
 *    viewer owes its token or headers for a few ms, so a flood would have
 *    to open 512 connections within those ms to push it out; refusing the
 *    newcomer instead (tried first, for connections under 250 ms old)
 *    locked a viewer out right after 1,000 connects made in 0.3 s.
 * 2. **`--max-clients-per-ip`**: viewers from one address at once.
 * 3. **Wrong tokens**: after {@linkcode FREE_WRONG_TOKENS} distinct ones
 *    from one address, its token checks are spaced out, doubling up to
 *    4 s (2,000 guesses back to back took 57 µs each before); past that,
 *    refused unchecked. A wrong token the address sent before is no new
 *    guess: it is refused at once and costs nothing, so that one client
 *    retrying a stale token (an old config, a forgotten tab) does not slow
 *    down its neighbours behind the same NAT or proxy, as a bad-password
 *    history keeps a stale saved password from locking an account. Every
 *    port checks tokens through {@linkcode Admission.checkToken}.
 *
 * Loopback is exempt from the per-address rules (not from the total
 * budget, nor the token backoff): a process on the camera's own machine
 * can do anything the server can, and every viewer through an SSH tunnel
 * or a local reverse proxy (docs/server.md's advice) arrives from 127.0.0.1.
 * So are the `--trusted-proxy` addresses, whose HTTP viewers are counted
 * by the address the proxy names (server/net/proxy.ts).
 *
 * @module
 */

import { sleep } from "../../common/time.ts";

/**
 * Connections owing their token, handshake or headers, in total (the
 * server raises it to `--max-clients`).
 */
export const MAX_PENDING = 512;
/**
 * The same, from one address: a classroom behind one NAT address opens its
 * pages at once, each connection owing its request for a few ms.
 */
export const MAX_PENDING_PER_ADDRESS = 64;
/** Wrong tokens from one address before its checks slow down. */
export const FREE_WRONG_TOKENS = 3;
/** First spacing of the checks of an address past its free tries. */
const FIRST_SPACING_MS = 250;
/** Largest spacing, and the most a check waits before being refused. */
const MAX_SPACING_MS = 4000;
/** An address's wrong tokens are forgotten after this long without one. */
const FORGET_MS = 60_000;
/**
 * Distinct wrong tokens remembered per address: a repeat of one of them
 * is no new guess. A few, for a household's stale clients; a guesser
 * gains nothing from them (each is known wrong already).
 */
export const WRONG_TOKEN_HISTORY = 4;
/** Addresses whose wrong tokens are remembered at once, at most. */
const MAX_ADDRESSES = 10_000;
/**
 * The key of the wrong tokens' hashes, new in each process (made at the
 * first token checked): the history holds no token, nor anything a token
 * can be checked against elsewhere.
 */
let historyKey: Promise<CryptoKey> | undefined;

/** The limits of an {@linkcode Admission}. */
export interface AdmissionLimits {
  /** Viewers from one address at once; 0 for no limit (`--max-clients-per-ip`). */
  maxPerAddress: number;
  /** @default {MAX_PENDING} */
  maxPending?: number;
  /** @default {MAX_PENDING_PER_ADDRESS} */
  maxPendingPerAddress?: number;
  /** Whether loopback addresses skip the per-address rules. @default {true} */
  exemptLoopback?: boolean;
  /**
   * Addresses that skip the per-address rules too (`--trusted-proxy`):
   * each stands for many viewers. @default {none}
   */
  exempt?: (address: string) => boolean;
  /**
   * Told once per address when its token checks start being refused
   * unchecked, with its count of distinct wrong tokens.
   */
  onSlowedDown?: (address: string, wrongTokens: number) => void;
}

/** One connection in the pending budget. */
interface Pending {
  address: string;
  evict: () => void;
}

/** Wrong tokens of one address. */
interface Wrong {
  /** Distinct wrong tokens. */
  count: number;
  last: number;
  /** When its next token may be checked. */
  nextAt: number;
  /** Keyed hashes of its last distinct wrong tokens, oldest first. */
  seen: string[];
  /** Whether its refusal has been told (one line per address). */
  told: boolean;
}

/**
 * A token as a viewer presented it, compared already (in constant time,
 * by the port that read it).
 */
export interface Presented {
  /** Whether it is the server's token. */
  right: boolean;
  /**
   * What was sent, whole (a token line, an HTTP request's credentials):
   * only its keyed hash is kept, to know it again.
   */
  sent: string;
}

/**
 * What {@linkcode Admission.checkToken} decided: `right` lets the viewer
 * in; every other verdict refuses it.
 *
 * - `wrong`: a new wrong token, counted toward the spacing;
 * - `repeat`: a wrong token its address sent before, refused at once and
 *   not counted;
 * - `slowed down`: refused unchecked, its address has guessed too much;
 * - `gone`: the wait was cut short (evicted, or the server stops).
 */
export type TokenVerdict =
  | "right"
  | "wrong"
  | "repeat"
  | "slowed down"
  | "gone";

/**
 * The admission rules of one server, shared by its TCP, HTTP and pickle
 * ports.
 *
 * @example 1,000 silent connections, then a real one
 * ```ts
 * import assert from "node:assert/strict";
 * const admission = new Admission({ maxPerAddress: 100 });
 * let evicted = 0;
 * for (let i = 0; i < 1000; i++) {
 *   admission.enter("203.0.113.7", () => evicted++);
 * }
 * assert.equal(evicted, 1000 - 64); // 64 from one address at most
 * admission.enter("198.51.100.1", () => {});
 * assert.equal(admission.pending, 65);
 * ```
 */
export class Admission {
  #maxPerAddress: number;
  #maxPending: number;
  #maxPendingPerAddress: number;
  #exemptLoopback: boolean;
  #exemptAlso: (address: string) => boolean;
  #onSlowedDown: (address: string, wrongTokens: number) => void;
  /** Insertion order is age order: the first is the oldest. */
  #pending = new Set<Pending>();
  #pendingByAddress = new Map<string, Set<Pending>>();
  #viewers = new Map<string, number>();
  #wrong = new Map<string, Wrong>();
  /**
   * The last token's hash: each hash is handed on after the one before
   * it, as Web Crypto may finish a short token before a long one that
   * came first, and a token's turn follows its arrival.
   */
  #lastHash: Promise<unknown> = Promise.resolve();

  /** @param limits See {@linkcode AdmissionLimits}. */
  constructor(limits: AdmissionLimits) {
    this.#maxPerAddress = limits.maxPerAddress;
    this.#maxPending = limits.maxPending ?? MAX_PENDING;
    this.#maxPendingPerAddress = limits.maxPendingPerAddress ??
      MAX_PENDING_PER_ADDRESS;
    this.#exemptLoopback = limits.exemptLoopback ?? true;
    this.#exemptAlso = limits.exempt ?? (() => false);
    this.#onSlowedDown = limits.onSlowedDown ?? (() => {});
  }

  /** Connections in the pending budget now. */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Puts a connection that owes its token, handshake or headers in the
   * pending budget, evicting the oldest one there to make room if need be.
   *
   * @param address The peer's address (no port).
   * @param evict Closes this connection, should it be evicted later.
   * @returns What to call once it owes nothing more (or is closed).
   */
  enter(address: string, evict: () => void): () => void {
    let mine = this.#pendingByAddress.get(address);
    if (
      mine !== undefined && !this.#exempt(address) &&
      mine.size >= this.#maxPendingPerAddress
    ) this.#evictOldest(mine);
    if (this.#pending.size >= this.#maxPending) {
      this.#evictOldest(this.#pending);
    }
    const entry: Pending = { address, evict };
    if (mine === undefined) {
      mine = new Set();
      this.#pendingByAddress.set(address, mine);
    }
    mine.add(entry);
    this.#pending.add(entry);
    return () => this.#leave(entry);
  }

  /**
   * Takes a viewer place of `address` under `--max-clients-per-ip`.
   *
   * @param address The peer's address (no port).
   * @returns What gives it back, or `null` when the address has its fill.
   */
  takeViewer(address: string): (() => void) | null {
    const n = this.#viewers.get(address) ?? 0;
    if (
      this.#maxPerAddress > 0 && n >= this.#maxPerAddress &&
      !this.#exempt(address)
    ) return null;
    this.#viewers.set(address, n + 1);
    let given = false;
    return () => {
      if (given) return;
      given = true;
      const left = (this.#viewers.get(address) ?? 1) - 1;
      if (left > 0) this.#viewers.set(address, left);
      else this.#viewers.delete(address);
    };
  }

  /**
   * Checks a token presented from `address`, the one way every port does:
   *
   * 1. a wrong token this address sent before (one of its last
   *    {@linkcode WRONG_TOKEN_HISTORY} distinct ones) is refused at once:
   *    `repeat`, no wait, not counted;
   * 2. any other waits its turn ({@linkcode Admission.tokenDelay}), right
   *    or wrong, so that the time of the answer does not tell which it
   *    was; `slowed down` when its turn is more than 4 s away;
   * 3. then `right`, or `wrong`, counted ({@linkcode Admission.wrongToken}).
   *
   * @param address The viewer's address.
   * @param presented The token, compared, and what was sent.
   * @param signal Ends a wait (`gone`): the connection was evicted or the
   * server stops.
   * @returns The verdict.
   *
   * @example A stale token, again and again, slows nobody down
   * ```ts
   * import assert from "node:assert/strict";
   * const admission = new Admission({ maxPerAddress: 0 });
   * const stale = { right: false, sent: "camwire an-old-token" };
   * assert.equal(await admission.checkToken("10.0.0.1", stale), "wrong");
   * for (let i = 0; i < 20; i++) {
   *   assert.equal(await admission.checkToken("10.0.0.1", stale), "repeat");
   * }
   * assert.equal(admission.tokenDelay("10.0.0.1"), 0);
   * ```
   */
  async checkToken(
    address: string,
    presented: Presented,
    signal?: AbortSignal,
  ): Promise<TokenVerdict> {
    // Hashed whether right or wrong: the same work either way.
    const hash = await this.#hashInTurn(presented.sent);
    if (!presented.right && this.#seen(address, hash)) return "repeat";
    const wait = this.tokenDelay(address);
    if (wait === null) return "slowed down";
    if (wait > 0 && !(await sleep(wait, signal))) return "gone";
    if (presented.right) return "right";
    return this.#noteWrong(address, hash, performance.now())
      ? "wrong"
      : "repeat"; // the same token, sent again while this one waited
  }

  /**
   * How long to hold a token of `address` before checking it: 0 until it
   * has sent {@linkcode FREE_WRONG_TOKENS} distinct wrong ones, then its
   * checks come one at a time, spaced 250 ms, doubling to 4 s per wrong
   * token. Each call takes a turn.
   *
   * @param address The peer's address.
   * @param now The time, `performance.now()`.
   * @returns Milliseconds to wait, or `null` when the wait would be
   * longer than 4 s: refuse it now.
   */
  tokenDelay(address: string, now: number = performance.now()): number | null {
    const wrong = this.#wrongOf(address, now);
    if (wrong === undefined) return 0;
    const over = wrong.count - FREE_WRONG_TOKENS;
    if (over < 0) return 0;
    const spacing = Math.min(FIRST_SPACING_MS * 2 ** over, MAX_SPACING_MS);
    const at = Math.max(now, wrong.nextAt);
    if (at - now > MAX_SPACING_MS) {
      if (!wrong.told) {
        wrong.told = true;
        this.#onSlowedDown(address, wrong.count);
      }
      return null;
    }
    wrong.nextAt = at + spacing;
    return at - now;
  }

  /**
   * Notes a wrong token from `address`, unless it is one of the last
   * distinct ones it sent (see {@linkcode Admission.checkToken}).
   *
   * @param address The peer's address.
   * @param sent What was sent.
   * @param now The time, `performance.now()`.
   * @returns Whether it was new, and counted.
   */
  async wrongToken(
    address: string,
    sent: string,
    now: number = performance.now(),
  ): Promise<boolean> {
    return this.#noteWrong(address, await this.#hashInTurn(sent), now);
  }

  /** {@linkcode hashOf} `sent`, settled after every token before it. */
  #hashInTurn(sent: string): Promise<string> {
    const inTurn = Promise.all([this.#lastHash, hashOf(sent)])
      .then(([, hash]) => hash);
    this.#lastHash = inTurn.catch(() => {});
    return inTurn;
  }

  /** The wrong tokens of `address`, unless forgotten by `now`. */
  #wrongOf(address: string, now: number): Wrong | undefined {
    const wrong = this.#wrong.get(address);
    if (wrong !== undefined && now - wrong.last > FORGET_MS) {
      this.#wrong.delete(address);
      return undefined;
    }
    return wrong;
  }

  #seen(address: string, hash: string): boolean {
    return this.#wrongOf(address, performance.now())?.seen.includes(hash) ??
      false;
  }

  #noteWrong(address: string, hash: string, now: number): boolean {
    let wrong = this.#wrongOf(address, now);
    if (wrong === undefined) {
      if (this.#wrong.size >= MAX_ADDRESSES) this.#forgetOld(now);
      wrong = { count: 0, last: now, nextAt: now, seen: [], told: false };
      this.#wrong.set(address, wrong);
    }
    if (wrong.seen.includes(hash)) return false;
    wrong.seen.push(hash);
    if (wrong.seen.length > WRONG_TOKEN_HISTORY) wrong.seen.shift();
    wrong.count++;
    wrong.last = now;
    return true;
  }

  #forgetOld(now: number): void {
    for (const [address, wrong] of this.#wrong) {
      if (now - wrong.last > FORGET_MS) this.#wrong.delete(address);
    }
    // Still full: a flood from many addresses; start over.
    if (this.#wrong.size >= MAX_ADDRESSES) this.#wrong.clear();
  }

  #exempt(address: string): boolean {
    return (this.#exemptLoopback && isLoopback(address)) ||
      this.#exemptAlso(address);
  }

  /** Evicts the oldest of `entries`. */
  #evictOldest(entries: Set<Pending>): void {
    const oldest = entries.values().next().value;
    if (oldest === undefined) return;
    this.#leave(oldest);
    oldest.evict();
  }

  #leave(entry: Pending): void {
    if (!this.#pending.delete(entry)) return;
    const mine = this.#pendingByAddress.get(entry.address)!;
    mine.delete(entry);
    if (mine.size === 0) this.#pendingByAddress.delete(entry.address);
  }
}

/**
 * The keyed hash of a token: 128 bits of HMAC-SHA-256 under the process's
 * {@linkcode historyKey}, by Web Crypto (`crypto.subtle`), which Deno has
 * built in: `node:crypto` cost a Deno process that only listens 7 MB
 * (34 to 41 MB resident, 3.4 MB of it anonymous), Web Crypto's HMAC 2 MB
 * of the executable's pages and no anonymous memory (measured after five
 * signs).
 */
async function hashOf(sent: string): Promise<string> {
  historyKey ??= crypto.subtle.importKey(
    "raw",
    crypto.getRandomValues(new Uint8Array(32)),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign(
    "HMAC",
    await historyKey,
    new TextEncoder().encode(sent),
  );
  return btoa(String.fromCharCode(...new Uint8Array(mac, 0, 16)));
}

/**
 * Whether an address is this machine's loopback.
 *
 * @param address An IPv4 or IPv6 address.
 * @returns True for 127.0.0.0/8, ::1 and ::ffff:127.x.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.ok(isLoopback("127.0.0.1") && isLoopback("::1"));
 * assert.ok(!isLoopback("192.168.1.2"));
 * ```
 */
export function isLoopback(address: string): boolean {
  return address.startsWith("127.") || address === "::1" ||
    address.startsWith("::ffff:127.") || address === "localhost";
}

/**
 * The address of a connection's far end, without its port.
 *
 * @param addr `conn.remoteAddr`.
 * @returns e.g. `192.168.1.2`, or the transport name for a non-IP peer.
 */
export function addressOf(addr: Deno.Addr): string {
  return addr.transport === "tcp" || addr.transport === "udp"
    ? addr.hostname
    : addr.transport;
}
