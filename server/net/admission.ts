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
 * 3. **Wrong tokens**: after {@linkcode FREE_WRONG_TOKENS} from one
 *    address, its token checks are spaced out, doubling up to 4 s (2,000
 *    guesses back to back took 57 µs each before).
 *
 * Loopback is exempt from the per-address rules (not from the total
 * budget, nor the token backoff): a process on the camera's own machine
 * can do anything the server can, and every viewer through an SSH tunnel
 * or a local reverse proxy (docs/server.md's advice) arrives from 127.0.0.1.
 *
 * @module
 */

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
}

/** One connection in the pending budget. */
interface Pending {
  address: string;
  evict: () => void;
}

/** Wrong tokens of one address. */
interface Wrong {
  count: number;
  last: number;
  /** When its next token may be checked. */
  nextAt: number;
}

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
  /** Insertion order is age order: the first is the oldest. */
  #pending = new Set<Pending>();
  #pendingByAddress = new Map<string, Set<Pending>>();
  #viewers = new Map<string, number>();
  #wrong = new Map<string, Wrong>();

  /** @param limits See {@linkcode AdmissionLimits}. */
  constructor(limits: AdmissionLimits) {
    this.#maxPerAddress = limits.maxPerAddress;
    this.#maxPending = limits.maxPending ?? MAX_PENDING;
    this.#maxPendingPerAddress = limits.maxPendingPerAddress ??
      MAX_PENDING_PER_ADDRESS;
    this.#exemptLoopback = limits.exemptLoopback ?? true;
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
   * How long to hold a token of `address` before checking it: 0 until it
   * has sent {@linkcode FREE_WRONG_TOKENS} wrong ones, then its checks
   * come one at a time, spaced 250 ms, doubling to 4 s per wrong token.
   *
   * @param address The peer's address.
   * @param now The time, `performance.now()`.
   * @returns Milliseconds to wait, or `null` when the wait would be
   * longer than 4 s: refuse it now.
   */
  tokenDelay(address: string, now: number = performance.now()): number | null {
    const wrong = this.#wrong.get(address);
    if (wrong === undefined) return 0;
    if (now - wrong.last > FORGET_MS) {
      this.#wrong.delete(address);
      return 0;
    }
    const over = wrong.count - FREE_WRONG_TOKENS;
    if (over < 0) return 0;
    const spacing = Math.min(FIRST_SPACING_MS * 2 ** over, MAX_SPACING_MS);
    const at = Math.max(now, wrong.nextAt);
    if (at - now > MAX_SPACING_MS) return null;
    wrong.nextAt = at + spacing;
    return at - now;
  }

  /**
   * Notes a wrong token from `address`.
   *
   * @param address The peer's address.
   * @param now The time, `performance.now()`.
   */
  wrongToken(address: string, now: number = performance.now()): void {
    let wrong = this.#wrong.get(address);
    if (wrong === undefined) {
      if (this.#wrong.size >= 10_000) this.#forgetOld(now);
      wrong = { count: 0, last: now, nextAt: now };
      this.#wrong.set(address, wrong);
    }
    wrong.count++;
    wrong.last = now;
  }

  #forgetOld(now: number): void {
    for (const [address, wrong] of this.#wrong) {
      if (now - wrong.last > FORGET_MS) this.#wrong.delete(address);
    }
    // Still full: a flood from many addresses; start over.
    if (this.#wrong.size >= 10_000) this.#wrong.clear();
  }

  #exempt(address: string): boolean {
    return this.#exemptLoopback && isLoopback(address);
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
