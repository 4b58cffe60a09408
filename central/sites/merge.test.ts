import { describe, expect, test } from "bun:test";
import { matches } from "./bus.ts";
import { mergeHoldings, mergeRanges } from "./api.ts";

describe("timeline holdings", () => {
  test("edge only today; central ranges (transfer engine) split pieces into edge/central/both", () => {
    expect(mergeHoldings([{ startMs: 0, endMs: 100 }], [])).toEqual([{ startMs: 0, endMs: 100, held: "edge" }]);
    expect(mergeHoldings([{ startMs: 0, endMs: 100 }], [{ startMs: 50, endMs: 150 }])).toEqual([
      { startMs: 0, endMs: 50, held: "edge" },
      { startMs: 50, endMs: 100, held: "both" },
      { startMs: 100, endMs: 150, held: "central" },
    ]);
    expect(mergeHoldings([{ startMs: 0, endMs: 10 }, { startMs: 20, endMs: 30 }], [{ startMs: 0, endMs: 30 }])).toEqual([
      { startMs: 0, endMs: 10, held: "both" },
      { startMs: 10, endMs: 20, held: "central" },
      { startMs: 20, endMs: 30, held: "both" },
    ]);
  });

  test("segments ≤ 1.5 s apart merge into one range", () => {
    expect(mergeRanges([{ startMs: 2000, endMs: 3000 }, { startMs: 0, endMs: 1000 }, { startMs: 6000, endMs: 7000 }])).toEqual([
      { startMs: 0, endMs: 3000 },
      { startMs: 6000, endMs: 7000 },
    ]);
  });

  test("MQTT filter matching for the external bus", () => {
    expect(matches("outpost/v1/sites/+/up", "outpost/v1/sites/a/up")).toBe(true);
    expect(matches("outpost/v1/sites/+/up", "outpost/v1/sites/a/hello")).toBe(false);
    expect(matches("outpost/#", "outpost/v1/sites/a/up")).toBe(true);
    expect(matches("outpost/v1/sites/+/up", "outpost/v1/sites/a/up/x")).toBe(false);
  });
});
