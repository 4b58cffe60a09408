import { expect, test } from "bun:test";
import { Goodput } from "./goodput.ts";

/** 16 KiB reads at `bps` from `from` for `ms`. */
function stream(g: Goodput, from: number, ms: number, bps: number): number {
  const piece = 16 * 1024;
  const every = (piece * 1000) / bps;
  let t = from;
  for (; t < from + ms; t += every) g.add(t, piece);
  return t;
}

test("a job after a quiet minute is estimated at the rate it is moving, not dragged down by the idle time", () => {
  const g = new Goodput();
  const t0 = 1_000_000;
  g.add(t0, 1000); // a last read a minute ago
  const t = stream(g, t0 + 60_000, 2000, 250_000); // then 2 s at 250 kB/s (2 Mbit/s)
  const bps = g.bytesPerSecond(t)!;
  expect(bps).toBeGreaterThan(200_000);
  expect(bps).toBeLessThan(300_000);
  // 5 MB left at that rate: ~20 s, the job's real duration (the old estimate said 313 s).
  expect(Math.ceil(5_000_000 / bps)).toBeLessThan(30);
});

test("parallel uploads add up; a slow link is measured slow; nothing seen is unknown", () => {
  const g = new Goodput();
  expect(g.bytesPerSecond(0)).toBeNull();
  const a = new Goodput();
  stream(a, 0, 3000, 50_000);
  expect(a.bytesPerSecond(3000)!).toBeGreaterThan(40_000);
  expect(a.bytesPerSecond(3000)!).toBeLessThan(60_000);
  // Two workers interleaved at 100 kB/s each.
  const b = new Goodput();
  const piece = 16 * 1024;
  for (let t = 0; t < 3000; t += (piece * 1000) / 100_000) {
    b.add(t, piece);
    b.add(t + 1, piece);
  }
  expect(b.bytesPerSecond(3000)!).toBeGreaterThan(170_000);
  // Old samples leave the window.
  expect(b.bytesPerSecond(60_000)).toBeNull();
});

test("uploads measured by what central acknowledged, each with its own start: parallel ones share their time", () => {
  const g = new Goodput();
  // Two workers, each 200 kB per second-long PUT, overlapping: 400 kB/s over the union of their time.
  g.add(1000, 200_000, 0);
  g.add(1500, 200_000, 500);
  g.add(2000, 200_000, 1000);
  expect(g.bytesPerSecond(2000)!).toBeCloseTo(300_000, -3); // 600 kB over 2 s of union time
  // A 16 s PUT of 4 MB on a slow link is 250 kB/s, not 4 MB/s (its time is its own, not capped at 1 s).
  const slow = new Goodput(30_000);
  slow.add(20_000, 4_000_000, 4_000);
  expect(slow.bytesPerSecond(20_000)!).toBeCloseTo(250_000, -3);
});
