// Copyright 2026 the camwire authors. MIT license.
/**
 * `--trusted-proxy` as a unit: address and range parsing, and the viewer's
 * address read from `X-Forwarded-For` and `Forwarded` behind trusted peers
 * only; and the flag as the command line reads it.
 */
import assert from "node:assert/strict";
import { forwardedHops, parseIp, TrustedProxies } from "./proxy.ts";
import { parseServerFlags } from "../flags.ts";
import { CamwireError, UsageError } from "../../common/cli.ts";

const xff = (value: string) => new Headers({ "x-forwarded-for": value });

Deno.test("parseIp() reads IPv4 and IPv6 (compressed, with an IPv4 tail, IPv4-mapped as IPv4) and refuses the rest", () => {
  assert.deepEqual(parseIp("192.168.1.2"), new Uint8Array([192, 168, 1, 2]));
  assert.deepEqual(parseIp("::ffff:127.0.0.1"), new Uint8Array([127, 0, 0, 1]));
  assert.equal(parseIp("::1")?.length, 16);
  assert.deepEqual(
    parseIp("2001:DB8::a:1"),
    parseIp("2001:db8:0:0:0:0:a:1"),
  );
  assert.deepEqual(
    parseIp("64:ff9b::1.2.3.4")?.slice(12),
    new Uint8Array([1, 2, 3, 4]),
  );
  for (
    const bad of [
      "",
      "unknown",
      "_hidden",
      "1.2.3",
      "1.2.3.4.5",
      "1.2.3.256",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "12345::",
      "fe80::1%eth0",
      "example.com",
    ]
  ) {
    assert.equal(parseIp(bad), null, bad);
  }
});

Deno.test("TrustedProxies.parse() takes addresses and CIDR ranges, IPv4 and IPv6, and says which value is neither", () => {
  const proxies = TrustedProxies.parse([
    "127.0.0.1",
    "10.0.0.0/8",
    "fd00::/8",
    "::1",
    "::ffff:192.168.0.0/112",
  ]);
  for (
    const yes of ["127.0.0.1", "10.200.3.4", "fd12::5", "::1", "192.168.7.7"]
  ) {
    assert.ok(proxies.has(yes), yes);
  }
  // An IPv4 peer seen by a dual-stack listener.
  assert.ok(proxies.has("::ffff:10.1.1.1"));
  for (const no of ["127.0.0.2", "11.0.0.1", "fe00::1", "::2", "192.169.0.1"]) {
    assert.ok(!proxies.has(no), no);
  }
  for (const bad of ["10.0.0.0/33", "::/129", "nginx", "10.0.0.0/x", ""]) {
    assert.throws(
      () => TrustedProxies.parse([bad]),
      (e) =>
        e instanceof CamwireError &&
        e.message.includes(`--trusted-proxy: "${bad}"`),
    );
  }
});

Deno.test("TrustedProxies.clientOf(): the last hop from the right that is not a trusted proxy; the peer itself when untrusted, headerless or unreadable", () => {
  const proxies = TrustedProxies.parse(["127.0.0.1", "10.0.0.0/8"]);
  const cases: [string, Headers, string][] = [
    ["a trusted peer, one hop", xff("203.0.113.7"), "203.0.113.7"],
    [
      "a client's own claim at the left",
      xff("1.1.1.1, 203.0.113.7"),
      "203.0.113.7",
    ],
    [
      "proxies in a chain",
      xff("203.0.113.7, 10.0.0.2, 10.9.9.9"),
      "203.0.113.7",
    ],
    ["all hops trusted: the leftmost", xff("10.0.0.3, 10.0.0.2"), "10.0.0.3"],
    [
      "ports and brackets",
      xff("[2001:DB8::7]:4711, 10.0.0.2:80"),
      "2001:db8::7",
    ],
    ["an unreadable hop to take", xff("1.1.1.1, unknown"), "127.0.0.1"],
    ["no header", new Headers(), "127.0.0.1"],
    [
      "Forwarded",
      new Headers({
        forwarded:
          'for=1.1.1.1, for="203.0.113.7:1234";proto=https, for=10.0.0.2',
      }),
      "203.0.113.7",
    ],
    [
      "X-Forwarded-For before Forwarded",
      new Headers({
        "x-forwarded-for": "203.0.113.7",
        forwarded: "for=198.51.100.1",
      }),
      "203.0.113.7",
    ],
    [
      "an obfuscated Forwarded",
      new Headers({ forwarded: "for=_hidden" }),
      "127.0.0.1",
    ],
  ];
  for (const [what, headers, expected] of cases) {
    assert.equal(proxies.clientOf("127.0.0.1", headers), expected, what);
  }
  // Untrusted peers: their headers mean nothing.
  assert.equal(proxies.clientOf("192.0.2.9", xff("203.0.113.7")), "192.0.2.9");
  const none = TrustedProxies.parse([]);
  assert.equal(none.clientOf("127.0.0.1", xff("203.0.113.7")), "127.0.0.1");
  // One spelling of an IPv6 viewer, however the proxy writes it.
  assert.equal(
    proxies.clientOf(
      "127.0.0.1",
      xff("2001:0db8:0000:0000:0000:0000:0000:0001"),
    ),
    "2001:db8::1",
  );
  assert.equal(
    proxies.clientOf("127.0.0.1", xff("::ffff:203.0.113.7")),
    "203.0.113.7",
  );
});

Deno.test("forwardedHops() reads every for= of Forwarded, quoted or not, and nothing else", () => {
  assert.deepEqual(
    forwardedHops(
      new Headers({
        forwarded:
          'by=10.0.0.1;for=192.0.2.60, for="[2001:db8::1]:4711";host=a',
      }),
    ),
    ["192.0.2.60", "2001:db8::1"],
  );
  assert.deepEqual(forwardedHops(new Headers()), []);
});

Deno.test("server --trusted-proxy: repeatable, CIDR allowed, a bad value is a usage error, and without --http-port a warning", () => {
  const flags = parseServerFlags([
    ...["--trusted-proxy", "127.0.0.1", "--trusted-proxy", "10.0.0.0/8"],
    ...["--http-port", "8080"],
  ]);
  assert.ok(flags !== "help");
  assert.deepEqual(flags.trustedProxies, ["127.0.0.1", "10.0.0.0/8"]);
  assert.deepEqual(flags.warnings, []);
  const defaults = parseServerFlags([]);
  assert.ok(defaults !== "help");
  assert.deepEqual(defaults.trustedProxies, []);
  assert.throws(
    () => parseServerFlags(["--trusted-proxy", "nginx"]),
    (e) =>
      e instanceof UsageError &&
      /--trusted-proxy: "nginx" is not an IP address or a CIDR range/.test(
        e.message,
      ),
  );
  const alone = parseServerFlags(["--trusted-proxy", "127.0.0.1"]);
  assert.ok(alone !== "help");
  assert.match(
    alone.warnings.join("\n"),
    /--trusted-proxy does nothing without --http-port/,
  );
});
