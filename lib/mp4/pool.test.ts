import { expect, test } from "bun:test";
import fc from "fast-check";
import { FragmentPool, holdFragment, isPooledFragment, keepFragment, releaseFragment } from "./pool.ts";

test("a released buffer is reused; a held one is not; a release too many throws", () => {
  const pool = new FragmentPool();
  const a = pool.take(100_000);
  expect(a.length).toBe(100_000);
  expect(isPooledFragment(a)).toBe(true);
  releaseFragment(a);
  const b = pool.take(90_000);
  expect(b.buffer).toBe(a.buffer);
  holdFragment(b); // e.g. the live hub's cached GOP
  releaseFragment(b); // the producer's hold
  const c = pool.take(90_000);
  expect(c.buffer).not.toBe(b.buffer);
  releaseFragment(b);
  expect(() => releaseFragment(b)).toThrow(/released more often than held/);
  expect(pool.stats).toEqual({ allocated: 2, reused: 1 });
});

test("a buffer too small for the fragment is not taken; sizes round up so a stream's fragments share buffers", () => {
  const pool = new FragmentPool();
  const small = pool.take(10);
  expect(small.buffer.byteLength).toBe(64 * 1024);
  releaseFragment(small);
  const big = pool.take(200_000);
  expect(big.buffer).not.toBe(small.buffer);
  expect(big.buffer.byteLength % (64 * 1024)).toBe(0);
  releaseFragment(big);
  // Both are free now; one of 70 KB fits only the larger.
  expect(pool.take(70_000).buffer).toBe(big.buffer);
});

test("views that are not a pool's: hold and release ignore them, keepFragment returns them as they are", () => {
  const plain = new Uint8Array(16).fill(3);
  holdFragment(plain);
  releaseFragment(plain);
  releaseFragment(plain);
  expect(keepFragment(plain)).toBe(plain);
  const pool = new FragmentPool();
  const pooled = pool.take(16);
  pooled.fill(5);
  const kept = keepFragment(pooled);
  expect(kept).not.toBe(pooled);
  expect(isPooledFragment(kept)).toBe(false);
  expect([...kept]).toEqual(new Array(16).fill(5));
});

test("free buffers kept: at least a few, as many as were in use at once (a long GOP), at most 32", () => {
  const pool = new FragmentPool();
  const many = Array.from({ length: 40 }, () => pool.take(1000));
  for (const v of many) releaseFragment(v);
  expect(pool.spare).toBe(32);
  const other = new FragmentPool();
  releaseFragment(other.take(1000));
  expect(other.spare).toBe(1);
});

// Any order of takes, holds and releases: bytes someone still holds are never written over.
test("property: a held fragment keeps its bytes whatever else is taken and released", () => {
  type Op = { kind: "take"; size: number } | { kind: "hold"; pick: number } | { kind: "release"; pick: number };
  const op = fc.oneof(
    fc.record({ kind: fc.constant("take" as const), size: fc.integer({ min: 1, max: 300_000 }) }),
    fc.record({ kind: fc.constant("hold" as const), pick: fc.nat() }),
    fc.record({ kind: fc.constant("release" as const), pick: fc.nat() }),
  );
  fc.assert(
    fc.property(fc.array(op as fc.Arbitrary<Op>, { maxLength: 120 }), (ops) => {
      const pool = new FragmentPool();
      const live: { view: Uint8Array; mark: number; holds: number }[] = [];
      let mark = 0;
      for (const o of ops) {
        if (o.kind === "take") {
          const view = pool.take(o.size);
          mark = (mark % 250) + 1;
          view.fill(mark);
          live.push({ view, mark, holds: 1 });
        } else if (live.length) {
          const i = o.pick % live.length;
          const f = live[i]!;
          if (o.kind === "hold") {
            holdFragment(f.view);
            f.holds++;
          } else {
            releaseFragment(f.view);
            if (--f.holds === 0) live.splice(i, 1);
          }
        }
        for (const f of live) {
          if (f.view[0] !== f.mark || f.view[f.view.length - 1] !== f.mark) return false;
        }
      }
      return true;
    }),
    { numRuns: 300 },
  );
});
