/**
 * ownedSites: the sites in the partitions a node holds, recomputed only when the registry's id
 * list or the partitions change — the per-site work every 2 s then costs a node its own share
 * of the fleet, not the whole registry.
 */
import { expect, test } from "bun:test";
import type { PartitionChange } from "./leases.ts";
import { ownedSites } from "./owned-sites.ts";
import { partitionOf } from "./partition.ts";

/** Leases holding the given partitions; `change` moves them and tells listeners, as a round does. */
function fakeLeases(held: Set<number>) {
  const fns = new Set<(c: PartitionChange) => void>();
  let owned = 0;
  return {
    owned: () => (owned++, new Map([...held].map((p) => [p, 1]))),
    onChange: (fn: (c: PartitionChange) => void) => (fns.add(fn), () => void fns.delete(fn)),
    change(next: number[]) {
      held.clear();
      for (const p of next) held.add(p);
      for (const fn of fns) fn({ gained: next, lost: [] });
    },
    listeners: () => fns.size,
    reads: () => owned,
  };
}

const fleet = Array.from({ length: 4000 }, (_, i) => `site-${i}`);
const low = (id: string) => partitionOf(id) < 128;

test("lists only the sites of the partitions held, and the same list until the sites or the partitions change", () => {
  const leases = fakeLeases(new Set(Array.from({ length: 128 }, (_, p) => p)));
  let sites: readonly string[] = fleet;
  const mine = ownedSites(leases, () => sites);
  const first = mine.ids();
  expect([...first].sort()).toEqual(fleet.filter(low).sort());
  expect(first.length).toBeLessThan(fleet.length);
  // Nothing changed: the same array, the partitions not even asked again.
  const reads = leases.reads();
  for (let i = 0; i < 5; i++) expect(mine.ids()).toBe(first);
  expect(leases.reads()).toBe(reads);
  // A site enrolled (the registry hands a new array): listed if its partition is held.
  const late = fleet.length + [...Array(1000).keys()].find((i) => low(`site-${fleet.length + i}`))!;
  sites = [...fleet, `site-${late}`];
  expect(mine.ids()).toContain(`site-${late}`);
  // Partitions moved: the other half now.
  leases.change(Array.from({ length: 128 }, (_, p) => p + 128));
  expect([...mine.ids()].sort()).toEqual(sites.filter((id) => !low(id)).sort());
  mine.close();
  expect(leases.listeners()).toBe(0);
});
