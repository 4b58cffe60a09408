import { expect, test } from "bun:test";
import { qualityRanges } from "./quality.ts";

// Times in units of 10 s (the timeline merges ranges whose seams are ≤ 1.5 s).
test("held quality: main where main is held, sub only where the main is not", () => {
  expect(qualityRanges([{ startMs: 100000, endMs: 200000 }, { startMs: 300000, endMs: 400000 }], [{ startMs: 0, endMs: 500000 }])).toEqual([
    { startMs: 0, endMs: 100000, quality: "sub" },
    { startMs: 100000, endMs: 200000, quality: "main" },
    { startMs: 200000, endMs: 300000, quality: "sub" },
    { startMs: 300000, endMs: 400000, quality: "main" },
    { startMs: 400000, endMs: 500000, quality: "sub" },
  ]);
  expect(qualityRanges([{ startMs: 0, endMs: 500000 }], [{ startMs: 100000, endMs: 200000 }])).toEqual([{ startMs: 0, endMs: 500000, quality: "main" }]);
  expect(qualityRanges([], [{ startMs: 50000, endMs: 60000 }])).toEqual([{ startMs: 50000, endMs: 60000, quality: "sub" }]);
});
