// Copyright 2026 the camwire authors. MIT license.
/**
 * Mutations of the docs: README and docs/ recipes, links and the map (see
 * bench/mutants.ts).
 *
 * @module
 */

import type { Mutation } from "./mutation.ts";

/** Mutations of the docs. */
export const DOCS: Mutation[] = [
  {
    name: "docs: the TLS recipe's certificate is a CA again",
    file: "docs/tls.md",
    from: ' -addext "basicConstraints=critical,CA:FALSE" -keyout',
    to: " -keyout",
    tests: ["e2e/docs_test.ts"],
  },
  {
    name: "docs: a README link names a heading that is not there",
    file: "README.md",
    from: "(docs/client.md#recordings)",
    to: "(docs/client.md#recording)",
    tests: ["e2e/docs_links_test.ts"],
  },
  {
    name: "README: the test command is not the one CI runs",
    file: "README.md",
    from: "\ndeno task test\n",
    to: "\ndeno task tests\n",
    tests: ["e2e/docs_test.ts"],
  },
  {
    name: "README: the Setup's server line streams another width",
    file: "README.md",
    from: "\ndeno run -A server.ts\n",
    to: "\ndeno run -A server.ts --width 640\n",
    tests: ["e2e/docs_test.ts"],
  },
  {
    name: "docs: the architecture map leaves a product file out",
    file: "docs/architecture.md",
    from: "[`tally.ts`](../server/net/tally.ts)",
    to: "`tally.ts`",
    tests: ["e2e/docs_links_test.ts"],
  },
  {
    name: "docs: the server's table of flags names one --help does not have",
    file: "docs/server.md",
    from: "| `--trusted-proxy <ADDR>`",
    to: "| `--trusted-proxies <ADDR>`",
    tests: ["e2e/docs_test.ts"],
    filter: "tables of flags",
  },
];
