/**
 * Who may import whom (a guard over the tree, like no-sql-literals): lib/ is the bottom layer
 * both sides build on; federation/ holds the contracts between edge and central (protocol,
 * PKI, custody, live, firmware, transfer policy); edge and central meet only through it.
 * Tests, benches and the CLI may cross layers — they exercise the whole.
 */
import { expect, test } from "bun:test";
import { Glob } from "bun";
import { readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { REPO } from "./helpers.ts";

const rules: { from: string; mayNot: string[] }[] = [
  { from: "lib/", mayNot: ["federation/", "edge/", "central/", "firmware/", "web/", "camsim/", "cli/"] },
  { from: "federation/", mayNot: ["edge/", "central/", "firmware/", "web/", "cli/"] },
  { from: "edge/", mayNot: ["central/"] },
  { from: "central/", mayNot: ["edge/", "firmware/agent/"] },
];

test("layers: lib imports nothing above it, federation neither side, edge and central not each other", () => {
  const bad: string[] = [];
  let scanned = 0;
  for (const file of new Glob("{lib,federation,edge,central}/**/*.{ts,tsx}").scanSync(REPO)) {
    if (/\.test\.tsx?$|testkit\.ts$|\/testdata\//.test(file)) continue;
    const rule = rules.find((r) => file.startsWith(r.from))!;
    scanned++;
    const src = readFileSync(join(REPO, file), "utf8");
    for (const m of src.matchAll(/(?:from|import)\s*\(?\s*"(\.[^"]+)"/g)) {
      const target = relative(REPO, normalize(join(REPO, dirname(file), m[1]!)));
      const hit = rule.mayNot.find((p) => target.startsWith(p));
      if (hit) bad.push(`${file} imports ${target}`);
    }
  }
  expect(scanned).toBeGreaterThan(100);
  expect(bad).toEqual([]);
});
