/**
 * The sites in the partitions this node holds, for work a node does every few seconds for its
 * own sites (the presence flush every 2 s, the subscriptions every lease round). Filtering the
 * whole registry by partition each time cost every node the same for 4,000 enrolled sites as
 * for its own third of them (bench/controlplane.bench.ts --part cluster: the presence flush's
 * loop was the largest JS cost of a node with 667 of 2,000 edges). The list is recomputed only
 * when the registry's id list (a new array on every change, Registry.ids) or the partitions
 * held change; in between it is the same array.
 *
 * Held, not owned this moment: a lease that ran out on this node's clock is still listed until
 * the next round drops it, so callers that act for a site still ask Leases.owns.
 */
import type { Leases } from "./leases.ts";
import { partitionOf } from "./partition.ts";

export function ownedSites(leases: Pick<Leases, "owned" | "onChange">, sites: () => readonly string[]): { ids: () => readonly string[]; close: () => void } {
  let changes = 0;
  let kept: { from: readonly string[]; changes: number; ids: readonly string[] } | null = null;
  const close = leases.onChange(() => changes++);
  const ids = (): readonly string[] => {
    const all = sites();
    if (kept?.from === all && kept.changes === changes) return kept.ids;
    const held = leases.owned();
    kept = { from: all, changes, ids: all.filter((id) => held.has(partitionOf(id))) };
    return kept.ids;
  };
  return { ids, close };
}
