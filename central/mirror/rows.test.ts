/**
 * The mirror's PostgreSQL write side (rows.ts) on both drivers: one statement per table per
 * batch with replace-by-key, and the fenced batch transaction across two central nodes — a
 * paused former owner's batch is refused and leaves nothing, the new owner's watermark (read
 * and locked in its transaction) deduplicates the edge's re-send, no row is stored twice.
 */
import { describe, expect, test } from "bun:test";
import { ManualClock } from "../../lib/clock.ts";
import { Leases, NotOwnerError } from "../cluster/index.ts";
import { driversInTempDir, migratedPairForDescribe } from "../database-testkit.ts";
import type { Database } from "../db/index.ts";
import { lockWatermarks, watermarkKey, writeRows } from "./rows.ts";

const { drivers } = driversInTempDir("mirror-rows");

/** An edge's message as the control plane stores it: an event at (ob, seq). */
type Msg = { siteId: string; ob: string; seq: number; eventId: string };

/** What ControlPlane.store does for a batch, on one node: fence, lock watermarks, skip duplicates, write rows and watermarks. */
async function storeBatch(db: Database, node: Leases, batch: Msg[]): Promise<number> {
  return db.transaction(async (tx) => {
    const sites = [...new Set(batch.map((m) => m.siteId))];
    for (const s of sites) await node.fence(tx, s);
    const marks = await lockWatermarks(tx, sites);
    const fresh = batch.filter((m) => {
      const k = watermarkKey(m.siteId, m.ob);
      if (m.seq <= (marks.get(k) ?? 0)) return false;
      marks.set(k, m.seq);
      return true;
    });
    await writeRows(tx, "cp_events", fresh.map((m) => [m.siteId, m.ob, m.seq, m.eventId, null, "motion", 1000 + m.seq, "{}", 5000]));
    await writeRows(tx, "cp_seq", [...marks].map(([k, seq]) => [...(k.split("\u0000") as [string, string]), seq]));
    return fresh.length;
  });
}

const msgs = (siteId: string, from: number, to: number): Msg[] => Array.from({ length: to - from + 1 }, (_, i) => ({ siteId, ob: "ob1", seq: from + i, eventId: `${siteId}-e${from + i}` }));

for (const d of drivers) {
  describe.skipIf(d.skip)(`mirror rows: ${d.name}`, () => {
    const nodes = migratedPairForDescribe(d);

    test("one statement per table: keyed rows replace (last of a batch wins), others append; thousands of rows at once", async () => {
      const { a: dbA } = nodes();
      const seg = (start: number, end: number, bytes: number) => ["s1", "cam1", "main", start, end, bytes] as const;
      expect(await dbA.transaction((tx) => writeRows(tx, "cp_segments", [seg(1000, 2000, 10), seg(2000, 3000, 20), seg(1000, 2500, 15)]))).toBe(2);
      await writeRows(dbA, "cp_segments", [seg(2000, 3100, 21)]);
      expect(await dbA.query(`SELECT start_ms, end_ms, bytes FROM cp_segments WHERE site_id = 's1' ORDER BY start_ms`)).toEqual([
        { start_ms: 1000, end_ms: 2500, bytes: 15 },
        { start_ms: 2000, end_ms: 3100, bytes: 21 },
      ]);
      await writeRows(dbA, "cp_health", [["s1", 1, 2, "{}"], ["s1", 1, 2, "{}"]]);
      expect(await dbA.query(`SELECT count(*)::int AS n FROM cp_health WHERE site_id = 's1'`)).toEqual([{ n: 2 }]);
      const many = Array.from({ length: 5000 }, (_, i) => ["s2", "cam1", "main", i * 1000, i * 1000 + 999, BigInt(i)] as const);
      expect(await writeRows(dbA, "cp_segments", many)).toBe(5000);
      await writeRows(dbA, "cp_cameras", [["s1", "cam1", "Door 'quoted' \u00e9", true, JSON.stringify([{ kind: "main" }]), 7]]);
      expect(await dbA.query(`SELECT name, enabled, streams FROM cp_cameras WHERE site_id = 's1'`)).toEqual([{ name: "Door 'quoted' \u00e9", enabled: true, streams: '[{"kind":"main"}]' }]);
      // A row with the wrong width is an error, not a silent shift of columns.
      expect(writeRows(dbA, "cp_gaps", [["s1", "cam1", "main", 1, 2]])).rejects.toThrow(/5 values for 6 columns/);
    });

    test("a paused former owner's batch is refused and leaves nothing; the new owner's watermark deduplicates the edge's re-send: no row twice", async () => {
      const { a: dbA, b: dbB } = nodes();
      const clock = new ManualClock(Date.UTC(2026, 11, 4, 9, 0, 0));
      const a = new Leases({ db: dbA, nodeId: "node-a", clock, heartbeatMs: 1000, leaseMs: 3000 });
      await a.start({ timers: false });
      expect(await storeBatch(dbA, a, msgs("bus-7", 1, 3))).toBe(3);
      a.halt(); // paused by the OS: it still believes it holds bus-7's partition
      const b = new Leases({ db: dbB, nodeId: "node-b", clock, heartbeatMs: 1000, leaseMs: 3000 });
      clock.advance(3001);
      await b.start({ timers: false });
      expect(b.owns("bus-7")).toBe(true);
      // The old owner wakes up with messages 4..5 it received before the pause: refused, nothing written.
      const err = await storeBatch(dbA, a, msgs("bus-7", 4, 5)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NotOwnerError);
      expect(await dbA.query(`SELECT last_seq FROM cp_seq WHERE site_id = 'bus-7'`)).toEqual([{ last_seq: 3 }]);
      // Unacknowledged, the edge re-sends from its oldest unacknowledged message (here from 1, as after a hello) to the new owner.
      expect(await storeBatch(dbB, b, msgs("bus-7", 1, 5))).toBe(2);
      expect(await storeBatch(dbB, b, msgs("bus-7", 4, 6))).toBe(1);
      const rows = await dbA.query<{ seq: number; n: number }>(`SELECT seq, count(*)::int AS n FROM cp_events WHERE site_id = 'bus-7' GROUP BY seq ORDER BY seq`);
      expect(rows).toEqual([1, 2, 3, 4, 5, 6].map((seq) => ({ seq, n: 1 })));
      expect(await dbA.query(`SELECT last_seq FROM cp_seq WHERE site_id = 'bus-7'`)).toEqual([{ last_seq: 6 }]);
      await b.close();
    });
  });
}
