import { expect, spyOn, test } from "bun:test";
import { everyPeriod, sharedTimers } from "./shared-timer.ts";

test("checks of one period share one timer; each runs every period; the timer stops with the last check", async () => {
  const before = sharedTimers();
  const runs = [0, 0, 0];
  const stops = runs.map((_, i) => everyPeriod(40, () => void runs[i]!++));
  const other = everyPeriod(60, () => undefined);
  expect(sharedTimers()).toBe(before + 2); // 40 ms and 60 ms, not four timers
  await Bun.sleep(300);
  for (const r of runs) expect(r).toBeGreaterThanOrEqual(3);
  stops[0]!();
  const stopped = runs[0]!;
  await Bun.sleep(150);
  expect(runs[0]).toBe(stopped);
  expect(runs[1]!).toBeGreaterThan(stopped);
  stops[1]!();
  stops[2]!();
  stops[2]!(); // twice is harmless
  other();
  expect(sharedTimers()).toBe(before);
});

test("a check that throws does not starve the others sharing its timer", async () => {
  let good = 0;
  const logged = spyOn(console, "error").mockImplementation(() => undefined);
  const stopBad = everyPeriod(30, () => {
    throw new Error("bad check");
  });
  const stopGood = everyPeriod(30, () => void good++);
  // Until the good check ran 3 times (a loaded machine may take long; only a starved check never gets there).
  for (let waited = 0; good < 3 && waited < 20_000; waited += 30) await Bun.sleep(30);
  stopBad();
  stopGood();
  expect(good).toBeGreaterThanOrEqual(3);
  expect(logged.mock.calls.some((c) => String(c[1]).includes("bad check"))).toBe(true);
  logged.mockRestore();
});
