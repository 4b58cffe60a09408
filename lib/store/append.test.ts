import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FragmentAppender, INLINE_MAX_MS, POOL_HOLD_MS, SYNC_STALL_MS } from "./append.ts";
import { isNoSpace } from "./errors.ts";

const dir = mkdtempSync(join(tmpdir(), "append-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bytes = (...xs: number[]) => new Uint8Array(xs);

/** A monotonic clock that moves `step` ms at every reading: a write between two readings "took" step ms. */
function steppingClock() {
  const c = { t: 0, step: 0, now: () => (c.t += c.step) };
  return c;
}

test("fragments are written inline, back to back at their position, without the thread pool", async () => {
  const a = new FragmentAppender();
  const fh = await open(join(dir, "inline.mp4"), "w");
  await a.write(fh, [bytes(1, 2, 3)], 0);
  await a.write(fh, [bytes(4), bytes(), bytes(5, 6)], 3);
  await fh.close();
  expect([...readFileSync(join(dir, "inline.mp4"))]).toEqual([1, 2, 3, 4, 5, 6]);
  expect(a.stats).toEqual({ inline: 2, pooled: 0 });
});

test("an inline write slower than the limit sends writes to the thread pool for the hold, then inline again", async () => {
  const clock = steppingClock();
  const a = new FragmentAppender(clock.now);
  const fh = await open(join(dir, "slow.mp4"), "w");
  clock.step = INLINE_MAX_MS + 5; // this write blocked the event loop
  await a.write(fh, [bytes(1)], 0);
  expect(a.stats).toEqual({ inline: 1, pooled: 0 });
  clock.step = 0;
  await a.write(fh, [bytes(2), bytes(3)], 1);
  await a.write(fh, [bytes(4)], 3);
  expect(a.stats).toEqual({ inline: 1, pooled: 2 });
  clock.t += POOL_HOLD_MS;
  await a.write(fh, [bytes(5)], 4);
  expect(a.stats).toEqual({ inline: 2, pooled: 2 });
  await fh.close();
  expect([...readFileSync(join(dir, "slow.mp4"))]).toEqual([1, 2, 3, 4, 5]);
});

test("slow pooled writes do not renew the hold (their time includes the event loop's wait)", async () => {
  const clock = steppingClock();
  const a = new FragmentAppender(clock.now);
  const fh = await open(join(dir, "pooled.mp4"), "w");
  clock.step = INLINE_MAX_MS + 5;
  await a.write(fh, [bytes(1)], 0); // inline, slow: hold starts
  await a.write(fh, [bytes(2)], 1); // pooled, "slow"
  clock.step = 0;
  clock.t += POOL_HOLD_MS;
  await a.write(fh, [bytes(3)], 2);
  expect(a.stats).toEqual({ inline: 2, pooled: 1 });
  await fh.close();
});

test("a full disk is ENOSPC, inline and on the thread pool", async () => {
  const clock = steppingClock();
  const a = new FragmentAppender(clock.now);
  const fh = await open("/dev/full", "w");
  const inline = await a.write(fh, [bytes(1, 2)], 0).catch((e: unknown) => e);
  expect(isNoSpace(inline)).toBe(true);
  clock.step = INLINE_MAX_MS + 5;
  await a.write(fh, [bytes(1)], 0).catch(() => undefined); // slow: the next goes to the pool
  clock.step = 0;
  const pooled = await a.write(fh, [bytes(1), bytes(2)], 0).catch((e: unknown) => e);
  expect(isNoSpace(pooled)).toBe(true);
  expect(a.stats).toEqual({ inline: 2, pooled: 1 });
  await fh.close();
});

test("while an fsync waits longer than the stall limit, writes go to the thread pool; inline again once it returns", async () => {
  const clock = steppingClock();
  const a = new FragmentAppender(clock.now, clock.now);
  const fh = await open(join(dir, "stalled.mp4"), "w");
  let release = () => {};
  const sync = a.watchSync(() => new Promise<void>((r) => (release = r)));
  await a.write(fh, [bytes(1)], 0); // the fsync has just started
  clock.t += SYNC_STALL_MS + 1;
  await a.write(fh, [bytes(2)], 1);
  expect(a.stats).toEqual({ inline: 1, pooled: 1 });
  release();
  await sync;
  await a.write(fh, [bytes(3)], 2);
  expect(a.stats).toEqual({ inline: 2, pooled: 1 });
  await fh.close();
  expect([...readFileSync(join(dir, "stalled.mp4"))]).toEqual([1, 2, 3]);
});
