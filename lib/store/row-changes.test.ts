import { expect, test } from "bun:test";
import fc from "fast-check";
import { rowChanges } from "./row-changes.ts";

type R = { k: number; v: number };
const key = (r: R) => String(r.k);
const same = (a: R, b: R) => a.v === b.v;
const rows = fc.array(fc.record({ k: fc.integer({ min: 0, max: 20 }), v: fc.integer({ min: 0, max: 3 }) }), { maxLength: 30 });

test("applying the changes to what the table holds gives what it should hold", () => {
  fc.assert(
    fc.property(rows, rows, (have, want) => {
      const { remove, put } = rowChanges(have, want, key, same);
      const table = new Map(have.map((r) => [key(r), r]));
      for (const r of remove) table.delete(key(r));
      for (const r of put) table.set(key(r), r);
      const expected = new Map(want.map((r) => [key(r), r]));
      expect([...table.entries()].map(([k, r]) => [k, r.v]).sort()).toEqual([...expected.entries()].map(([k, r]) => [k, r.v]).sort());
      // Nothing is written that is already there.
      const held = new Map(have.map((r) => [key(r), r]));
      for (const r of put) expect(held.has(key(r)) && same(held.get(key(r))!, r)).toBe(false);
    }),
  );
});

test("an unchanged table needs no statement", () => {
  const t = [{ k: 1, v: 1 }, { k: 2, v: 0 }];
  expect(rowChanges(t, [...t].reverse(), key, same)).toEqual({ remove: [], put: [] });
});
