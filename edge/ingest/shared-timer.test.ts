import { expect, spyOn, test } from "bun:test";
import { manual } from "../../lib/timers/manual-timer.ts";
import { Wakeups } from "../../lib/timers/wakeups.ts";
import { everyPeriod, PeriodicChecks, sharedTimers } from "./shared-timer.ts";

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

test("while camera reads are batched every 250 ms, a 1 s check rides a batch's turn (no wake-up of its own) and keeps its 1 s period", () => {
  // A check whose deadline falls 230 ms after a batch: the last batch before it is 230 ms early.
  const m = manual();
  const w = new Wakeups(m.schedule, m.unschedule, m.now);
  let batches = 0;
  const batch = () => {
    batches++;
    w.after(batch, 250);
  };
  w.after(batch, 250);
  m.advance(230);
  const runs: number[] = [];
  const stop = new PeriodicChecks(w).every(1000, () => void runs.push(m.t));
  m.advance(20_230);
  stop();
  expect(batches).toBe(80);
  expect(m.wakes).toBe(batches); // before: 100 (a wake-up for the check every second)
  expect(runs.length).toBe(20); // once a second, not once every 750 ms
  for (const t of runs) expect(t % 250).toBe(0); // each in a batch's turn
});

test("after the event loop stalled for longer than a period, the checks start again from then, without a burst", () => {
  const m = manual();
  const w = new Wakeups(m.schedule, m.unschedule, m.now);
  const runs: number[] = [];
  const checks = new PeriodicChecks(w);
  const stop = checks.every(1000, () => void runs.push(m.t));
  m.advance(1000);
  // The loop is blocked for 5 s: the armed timer fires late, once.
  m.armed[0]!.at = 6500;
  m.advance(6500);
  m.advance(8000);
  stop();
  expect(runs).toEqual([1000, 6500, 7500]);
  expect(checks.timers).toBe(0);
});
