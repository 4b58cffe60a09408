import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { WeeklyWindow, inWindows, localTime } from "./index.ts";

// Friday 2026-11-20 23:30 UTC = Saturday 00:30 in Oslo (UTC+1).
const fri2330 = Date.UTC(2026, 10, 20, 23, 30);

describe("weekly windows", () => {
  test("spans, overnight windows and day lists (names or numbers mean the same)", () => {
    expect(inWindows([{ from: "23:00", to: "01:00" }], fri2330, "UTC")).toBe(true);
    expect(inWindows([{ from: "01:00", to: "05:00" }], fri2330, "UTC")).toBe(false);
    expect(inWindows([{ from: "00:00", to: "01:00", days: [6] }], fri2330, "Europe/Oslo")).toBe(true);
    expect(inWindows([{ from: "00:00", to: "01:00", days: ["sat"] }], fri2330, "Europe/Oslo")).toBe(true);
    expect(inWindows([{ from: "00:00", to: "01:00", days: ["fri"] }], fri2330, "Europe/Oslo")).toBe(false);
    // The morning part of an overnight window belongs to the day it started.
    expect(inWindows([{ from: "22:00", to: "02:00", days: ["fri"] }], fri2330, "Europe/Oslo")).toBe(true);
    expect(inWindows([{ from: "22:00", to: "02:00", days: [5] }], fri2330, "Europe/Oslo")).toBe(true);
    expect(inWindows([{ from: "00:00", to: "24:00" }], fri2330, "UTC")).toBe(true);
  });

  test("from = to is the whole listed day — for rules and for transfer policies alike", () => {
    expect(inWindows([{ from: "08:00", to: "08:00", days: ["fri"] }], fri2330, "UTC")).toBe(true);
    expect(inWindows([{ from: "08:00", to: "08:00", days: ["thu"] }], fri2330, "UTC")).toBe(false);
  });

  test("the schema refuses bad times, empty day lists and unknown keys, naming the problem", () => {
    expect(WeeklyWindow.safeParse({ from: "25:00", to: "01:00" }).error?.issues[0]?.message).toContain("HH:MM");
    expect(WeeklyWindow.safeParse({ from: "01:00", to: "02:00", days: [] }).success).toBe(false);
    expect(WeeklyWindow.safeParse({ from: "01:00", to: "02:00", days: ["funday"] }).success).toBe(false);
    expect(WeeklyWindow.safeParse({ from: "01:00", to: "02:00", day: ["mon"] }).success).toBe(false);
  });

  test("a window and its complement cover every minute exactly once (any zone, any moment)", () => {
    const zones = ["UTC", "Europe/Oslo", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"];
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1439 }), fc.integer({ min: 0, max: 1439 }), fc.integer({ min: 0, max: 4_102_444_800_000 }), fc.constantFrom(...zones), (a, b, ms, tz) => {
        fc.pre(a !== b);
        const t = (m: number) => `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
        const inA = inWindows([{ from: t(a), to: t(b) }], ms, tz);
        const inB = inWindows([{ from: t(b), to: t(a) }], ms, tz);
        expect(inA !== inB).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  test("local time agrees with the platform's own formatting", () => {
    const { day, minute } = localTime(fri2330, "Asia/Kolkata"); // UTC+5:30 → Saturday 05:00
    expect(day).toBe(6);
    expect(minute).toBe(5 * 60);
  });
});
