/**
 * Two central nodes on one database and one store directory, for central/media's tests: their
 * database handles (two connections to one server, or one embedded database both use), their
 * lease holders (not started) on one lease clock of their own — the recording's clock jumps
 * with each fragment fed — and the store as a node opens it, with `fence` its live commits
 * fenced by that node's leases (leaseFence).
 */
import { ManualClock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import { MediaStore } from "../../lib/store/index.ts";
import { Leases } from "../cluster/index.ts";
import type { Database } from "../db/index.ts";
import { openMigratedPair, type TestDriver } from "../db/testkit.ts";
import { PgStoreIndex, leaseFence } from "./store-index.ts";

export async function twoNodeStore(d: TestDriver, root: string, log: Logger, times: { recordingMs: number; leaseMs: number }) {
  const nodes = await openMigratedPair(d);
  const clock = new ManualClock(times.recordingMs);
  const leaseClock = new ManualClock(times.leaseMs);
  const la = new Leases({ db: nodes.a, nodeId: "node-a", clock: leaseClock, heartbeatMs: 1000, leaseMs: 3000 });
  const lb = new Leases({ db: nodes.b, nodeId: "node-b", clock: leaseClock, heartbeatMs: 1000, leaseMs: 3000 });
  const openStore = (db: Database, fence?: Leases) => {
    const f = fence && leaseFence(fence);
    return MediaStore.open({ root, clock, log, segmentDurationMs: 2000, minFreeBytes: 0, index: async () => new PgStoreIndex(db, () => clock.now(), f && (() => f)) });
  };
  /** Closes what the test opened on top (upkeep, stores, more lease holders), in order, then both lease holders and the handles. */
  const close = async (...opened: ({ close(): Promise<void> } | null)[]) => {
    for (const o of opened) await o?.close();
    await la.close();
    await lb.close();
    await nodes.close();
  };
  return { nodes, root, clock, leaseClock, la, lb, openStore, close };
}
