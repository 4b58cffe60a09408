/** Serial + coalesced periodic jobs: a slow job does not pile up behind itself. */
import { expect, test } from "bun:test";
import { coalesced, Serial } from "./state.ts";

test("a periodic job slower than its period runs once at a time; work queued behind it waits for one run, not a backlog", async () => {
  const serial = new Serial();
  let runs = 0;
  const slow = async () => {
    runs++;
    await Bun.sleep(50);
  };
  const tick = coalesced(serial, slow, () => {});
  const timer = setInterval(tick, 5); // ten triggers per run
  await Bun.sleep(500);
  clearInterval(timer);
  // Queued now (like the uplink's syncNow): it runs after the job in flight, not after a backlog.
  const before = runs;
  await serial.run(async () => undefined);
  expect(runs - before).toBeLessThanOrEqual(1);
  expect(runs).toBeLessThanOrEqual(12); // ≈ 500 ms / 50 ms, not one run per trigger (≈ 100)
});

test("a failed run reports its error and the job runs again at the next trigger", async () => {
  const serial = new Serial();
  const errors: unknown[] = [];
  let n = 0;
  const tick = coalesced(
    serial,
    async () => {
      if (++n === 1) throw new Error("boom");
    },
    (e) => errors.push(e),
  );
  tick();
  await serial.run(async () => undefined);
  tick();
  await serial.run(async () => undefined);
  expect(n).toBe(2);
  expect(errors.map((e) => (e as Error).message)).toEqual(["boom"]);
});
