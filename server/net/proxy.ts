// Copyright 2026 the camwire authors. MIT license.
/**
 * `--trusted-proxy`: the viewer behind a reverse proxy. Through nginx or
 * Caddy every HTTP viewer arrives from the proxy's address, so the
 * per-address rules (the wrong-token spacing, `--max-clients-per-ip`)
 * would see one address for all of them: one guesser slowing down every
 * viewer, one crowd filling one address's places. When the peer is a
 * trusted proxy, the viewer's address is the one the proxy wrote in
 * `X-Forwarded-For` (or `Forwarded: for=`): the last hop from the right
 * that is not itself a trusted proxy (a client can write anything at the
 * left; each proxy appends what it saw). From any other peer those headers
 * are ignored: anyone can send them.
 *
 * @module
 */

import { CamwireError } from "../../common/cli.ts";

/** An address as bytes: 4 for IPv4 (IPv4-mapped IPv6 too), else 16. */
type Ip = Uint8Array;

/** One `--trusted-proxy`: an address and the length of its prefix. */
interface Range {
  ip: Ip;
  bits: number;
}

/**
 * The trusted proxies of a server, and the viewer's address behind them.
 *
 * @example A viewer behind nginx on the camera's own machine
 * ```ts
 * import assert from "node:assert/strict";
 * const proxies = TrustedProxies.parse(["127.0.0.1", "10.0.0.0/8"]);
 * const headers = new Headers({ "x-forwarded-for": "6.6.6.6, 203.0.113.7, 10.1.2.3" });
 * // 10.1.2.3 is a proxy too; 6.6.6.6 is what the client wrote itself.
 * assert.equal(proxies.clientOf("127.0.0.1", headers), "203.0.113.7");
 * // Another peer's headers mean nothing.
 * assert.equal(proxies.clientOf("192.168.1.9", headers), "192.168.1.9");
 * ```
 */
export class TrustedProxies {
  #ranges: Range[];

  private constructor(ranges: Range[]) {
    this.#ranges = ranges;
  }

  /**
   * Reads `--trusted-proxy` values: addresses or CIDR ranges, IPv4 or IPv6.
   *
   * @param values e.g. `["127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8"]`.
   * @returns The proxies (none for an empty list).
   * @throws {CamwireError} For a value that is neither.
   */
  static parse(values: string[]): TrustedProxies {
    return new TrustedProxies(values.map((value) => {
      const range = parseRange(value.trim());
      if (range === null) {
        throw new CamwireError(
          `Invalid value for --trusted-proxy: "${value}" is not an IP address or a CIDR range (e.g. 127.0.0.1, 10.0.0.0/8, ::1)`,
        );
      }
      return range;
    }));
  }

  /**
   * Whether an address is a trusted proxy's.
   *
   * @param address A peer's address.
   * @returns True when it is in one of the ranges.
   */
  has(address: string): boolean {
    const ip = parseIp(address);
    return ip !== null && this.#trusts(ip);
  }

  /**
   * The viewer's address: behind a trusted peer, the last hop of
   * `X-Forwarded-For` (else of `Forwarded`'s `for=`) that is not a trusted
   * proxy, read from the right; otherwise the peer's own.
   *
   * @param peer The connection's peer address.
   * @param headers The request's headers.
   * @returns The address the per-address rules and the log go by: the
   * peer's, when it is not trusted, sent no such header, or the hop to
   * take is not an address (`unknown`, an obfuscated name).
   */
  clientOf(peer: string, headers: Headers): string {
    if (this.#ranges.length === 0 || !this.has(peer)) return peer;
    const hops = forwardedHops(headers);
    for (let i = hops.length - 1; i >= 0; i--) {
      const ip = parseIp(hops[i]!);
      if (ip === null) return peer;
      if (!this.#trusts(ip) || i === 0) return formatIp(ip);
    }
    return peer;
  }

  #trusts(ip: Ip): boolean {
    return this.#ranges.some((range) => inRange(ip, range));
  }
}

/**
 * The hops a request passed, leftmost (the client, by its own word)
 * first: `X-Forwarded-For`, or else the `for=` of each `Forwarded`
 * element (RFC 7239), without ports or brackets.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(
 *   forwardedHops(new Headers({
 *     forwarded: 'for=192.0.2.60;proto=http, for="[2001:db8::1]:4711"',
 *   })),
 *   ["192.0.2.60", "2001:db8::1"],
 * );
 * ```
 */
export function forwardedHops(headers: Headers): string[] {
  const xff = headers.get("x-forwarded-for");
  if (xff !== null) return xff.split(",").map((hop) => hostOf(hop.trim()));
  const forwarded = headers.get("forwarded");
  if (forwarded === null) return [];
  const hops: string[] = [];
  for (const element of forwarded.split(",")) {
    for (const pair of element.split(";")) {
      const eq = pair.indexOf("=");
      if (pair.slice(0, eq).trim().toLowerCase() !== "for") continue;
      hops.push(hostOf(pair.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1")));
    }
  }
  return hops;
}

/** `1.2.3.4:5`, `[::1]:5`, `[::1]` → the address alone. */
function hostOf(hop: string): string {
  const bracketed = /^\[([^\]]*)\](?::\d+)?$/.exec(hop);
  if (bracketed) return bracketed[1]!;
  const v4port = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(hop);
  return v4port ? v4port[1]! : hop;
}

/** An address or `address/bits`, or `null`. */
function parseRange(text: string): Range | null {
  const slash = text.indexOf("/");
  const ip = parseIp(slash === -1 ? text : text.slice(0, slash));
  if (ip === null) return null;
  const max = ip.length * 8;
  if (slash === -1) return { ip, bits: max };
  const bitsText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bitsText)) return null;
  let bits = Number(bitsText);
  // ::ffff:10.0.0.0/104 is 10.0.0.0/8.
  if (ip.length === 4 && text.includes(":")) bits -= 96;
  return bits >= 0 && bits <= max ? { ip, bits } : null;
}

function inRange(ip: Ip, range: Range): boolean {
  if (ip.length !== range.ip.length) return false;
  let bits = range.bits;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((ip[i]! & mask) !== (range.ip[i]! & mask)) return false;
  }
  return true;
}

/**
 * An IPv4 or IPv6 address as bytes; an IPv4-mapped IPv6 one as IPv4.
 *
 * @param text e.g. `192.168.1.2`, `2001:db8::1`, `::ffff:127.0.0.1`.
 * @returns Its bytes, or `null` when it is not an address.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseIp("::ffff:10.0.0.1"), new Uint8Array([10, 0, 0, 1]));
 * assert.equal(parseIp("10.0.0.256"), null);
 * assert.equal(parseIp("unknown"), null);
 * ```
 */
export function parseIp(text: string): Ip | null {
  if (text.includes(".") && !text.includes(":")) return parseV4(text);
  const v6 = parseV6(text);
  if (v6 === null) return null;
  const mapped = v6.subarray(0, 12).every((b, i) => b === (i < 10 ? 0 : 0xff));
  return mapped ? v6.slice(12) : v6;
}

function parseV4(text: string): Ip | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const bytes = parts.map((p) => /^\d{1,3}$/.test(p) ? Number(p) : 256);
  return bytes.every((b) => b <= 255) ? new Uint8Array(bytes) : null;
}

function parseV6(text: string): Ip | null {
  if (!/^[0-9A-Fa-f:.]+$/.test(text)) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (half: string): number[] | null => {
    if (half === "") return [];
    const out: number[] = [];
    const parts = half.split(":");
    for (const [i, part] of parts.entries()) {
      if (part.includes(".") && i === parts.length - 1) {
        const v4 = parseV4(part);
        if (v4 === null) return null;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (/^[0-9A-Fa-f]{1,4}$/.test(part)) {
        out.push(parseInt(part, 16));
      } else return null;
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (head === null || tail === null) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [...head, ...Array(missing).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((group, i) => {
    bytes[2 * i] = group >> 8;
    bytes[2 * i + 1] = group & 0xff;
  });
  return bytes;
}

/**
 * An address in one spelling: dotted IPv4, or IPv6 in lower case with
 * the longest run of zero groups as `::` (RFC 5952), so that one viewer
 * is one address however a proxy spells it.
 */
function formatIp(ip: Ip): string {
  if (ip.length === 4) return ip.join(".");
  const groups = Array.from(
    { length: 8 },
    (_, i) => (ip[2 * i]! << 8) | ip[2 * i + 1]!,
  );
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [best, bestLength] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best === -1) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${
    hex.slice(best + bestLength).join(":")
  }`;
}
