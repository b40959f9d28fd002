// Copyright 2026 the camwire authors. MIT license.
/**
 * Mutations of who gets in: tokens on every port, HTTP auth, --trusted-proxy,
 * --max-clients-per-ip, the TLS port, the HTTP head's limits (see
 * bench/mutants.ts).
 *
 * @module
 */

import type { Mutation } from "./mutation.ts";

/** Mutations of who gets in. */
export const ACCESS: Mutation[] = [
  {
    name: "token: any token accepted",
    file: "server/viewers/viewers.ts",
    from: 'const right = constantTimeEqual(rest.join(" "), token);',
    to: "const right = token.length > 0;",
    tests: ["e2e/faults_test.ts"],
    filter: "token",
  },
  {
    name: "http: any Bearer token accepted",
    file: "server/http/http.ts",
    from: "ok = equals(value, token);",
    to: "ok = true;",
    tests: ["server/http/routes_test.ts", "server/http/http_test.ts"],
  },
  {
    name: "http: Basic auth takes any password",
    file: "server/http/http.ts",
    from: "ok = equals(password, token) && userOk;",
    to: "ok = userOk;",
    tests: ["server/http/routes_test.ts", "server/http/http_test.ts"],
  },
  {
    name: "token: no 5 s limit for the token line",
    file: "server/viewers/viewers.ts",
    from: "export const TOKEN_TIMEOUT_MS = 5000;",
    to: "export const TOKEN_TIMEOUT_MS = 60_000;",
    tests: ["e2e/faults_test.ts"],
    filter: "token",
  },
  // Who gets in (access): the wrong-token history and spacing of every
  // port, --trusted-proxy, --max-clients-per-ip, the TLS port's first byte,
  // the HTTP head's limits.
  {
    name:
      "access: no wrong-token history (each repeat of a stale token a new guess)",
    file: "server/net/admission.ts",
    from: "new TextEncoder().encode(sent),",
    to: "new TextEncoder().encode(sent + Math.random()),",
    tests: ["e2e/access_test.ts", "server/net/admission_test.ts"],
    filter: "stale|repeat",
  },
  {
    name: "access: distinct wrong tokens not spaced out",
    file: "server/net/admission.ts",
    from:
      "const spacing = Math.min(FIRST_SPACING_MS * 2 ** over, MAX_SPACING_MS);",
    to: "const spacing = 0;",
    tests: ["e2e/access_test.ts"],
    filter: "distinct|250 ms apart",
  },
  {
    name: "access: a right token skips a guessing address's turn",
    file: "server/net/admission.ts",
    from: "const wait = this.tokenDelay(address);",
    to: "const wait = presented.right ? 0 : this.tokenDelay(address);",
    tests: ["e2e/access_test.ts"],
    filter: "waits its turn",
  },
  {
    name: "access: an address's refusal never logged",
    file: "server/net/admission.ts",
    from: "this.#onSlowedDown(address, wrong.count);",
    to: "",
    tests: ["e2e/access_test.ts"],
    filter: "one line",
  },
  {
    name: "access: HTTP tokens checked without the spacing",
    file: "server/http/http.ts",
    from: ".checkToken(addressOfRequest(info), presented, info.signal);",
    to:
      '.checkToken(addressOfRequest(info), presented, info.signal) && (presented.right ? "right" : "wrong");',
    tests: ["e2e/access_test.ts"],
    filter: "HTTP",
  },
  {
    name:
      "access: the HTTP side counts wrong tokens apart from the other ports",
    file: "server/http/http.ts",
    from: "this.#admission = options.admission ?? new Admission(",
    to: "this.#admission = new Admission(",
    tests: ["e2e/access_test.ts"],
    filter: "count one",
  },
  {
    name: "access: a TLS ClientHello on a plain port counted as a wrong token",
    file: "server/viewers/viewers.ts",
    from: 'if (word !== "camwire") {',
    to: 'if (word === "\\0") {',
    tests: ["e2e/tls_ports_test.ts"],
    filter: "plain port",
  },
  {
    name: "trusted proxy: X-Forwarded-For never read",
    file: "server/http/serve.ts",
    from:
      "address: this.#options.trustedProxies?.clientOf(address, head.headers) ??",
    to: "address: undefined ??",
    tests: ["e2e/proxy_test.ts", "e2e/proxy_recipe_test.ts"],
    filter: "trusted-proxy|recipe",
  },
  {
    name: "trusted proxy: X-Forwarded-For believed from any peer",
    file: "server/net/proxy.ts",
    from: "if (this.#ranges.length === 0 || !this.has(peer)) return peer;",
    to: "if (this.#ranges.length === 0) return peer;",
    tests: ["e2e/proxy_test.ts"],
    filter: "not a trusted proxy",
  },
  {
    name: "trusted proxy: the leftmost hop (the client's own word) taken",
    file: "server/net/proxy.ts",
    from: "for (let i = hops.length - 1; i >= 0; i--) {",
    to: "for (let i = 0; i < hops.length; i++) {",
    tests: ["e2e/proxy_test.ts"],
    filter: "with --trusted-proxy",
  },
  {
    name: "per-ip: --max-clients-per-ip not passed to admission",
    file: "server/server.ts",
    from: "maxPerAddress: settings.maxClientsPerIp,",
    to: "maxPerAddress: 0,",
    tests: ["e2e/proxy_test.ts"],
    filter: "max-clients-per-ip",
  },
  {
    name: "per-ip: --max-clients-per-ip off by a thousand",
    file: "server/net/admission.ts",
    from: "this.#maxPerAddress > 0 && n >= this.#maxPerAddress &&",
    to: "this.#maxPerAddress > 0 && n >= this.#maxPerAddress * 1000 &&",
    tests: ["e2e/proxy_test.ts"],
    filter: "max-clients-per-ip",
  },
  {
    name: "tls: a silent plain client waits out the 3 s handshake deadline",
    file: "server/viewers/doorway.ts",
    from: "() => checkSilent(conn, () => silent = true),",
    to: "() => {},",
    tests: ["e2e/tls_ports_test.ts"],
  },
  {
    name: "tls: a silent plain client closed without the TLS alert",
    file: "server/net/sockets.ts",
    from:
      "lib.symbols.send(fd, say, BigInt(say.length), MSG_DONTWAIT | MSG_NOSIGNAL);",
    to: "",
    tests: ["e2e/tls_ports_test.ts"],
  },
  {
    name: "http: 431 off by one (a head over 8 KiB freezes the server)",
    file: "server/http/wire.ts",
    from: "if (have === buf.length) {",
    to: "if (have > buf.length) {",
    tests: ["e2e/http_limits_test.ts"],
    filter: "8 KiB",
  },
  {
    name: "http: a request body accepted (no smuggling guard)",
    file: "server/http/wire.ts",
    from:
      'if (headers.has("transfer-encoding") || (length !== null && length !== "0")) {',
    to: "if (length === '-') {",
    tests: ["e2e/http_limits_test.ts"],
    filter: "body",
  },
  {
    name: "admission: tokens hashed out of turn (a short one overtakes)",
    file: "server/net/admission.ts",
    from: "Promise.all([this.#lastHash, hashOf(sent)])",
    to: "Promise.all([null, hashOf(sent)])",
    tests: ["server/net/admission_test.ts"],
    filter: "order tokens came",
  },
];
