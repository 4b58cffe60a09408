/**
 * The live_uplinks registry on both drivers (embedded PGlite, a real PostgreSQL 15): a node
 * registers the uplinks it holds, other nodes locate them with the holder's internal URL, a
 * newer registration elsewhere wins (the edge moved), a node's unregister leaves another's row,
 * and rows of a node whose heartbeat lapsed are ignored and then purged. The heartbeats are
 * real Leases rounds (central/cluster) on a hand-driven clock.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ManualClock } from "../../../lib/clock.ts";
import { migrateUp, type Database } from "../../db/index.ts";
import { driversInTempDir } from "../../database-testkit.ts";
import { Leases } from "../../cluster/leases.ts";
import { LiveUplinks } from "./uplinks.ts";

const { drivers } = driversInTempDir("uplinktest");

const LEASE = 1000;

for (const d of drivers) {
  describe.skipIf(d.skip)(`live_uplinks: ${d.name}`, () => {
    let db: Database;
    const clock = new ManualClock(1_764_800_000_000);
    const leases: Record<string, Leases> = {};
    const reg: Record<string, LiveUplinks> = {};
    beforeAll(async () => {
      db = await d.open();
      await migrateUp(db);
      for (const n of ["a", "b"]) {
        leases[n] = new Leases({ db, nodeId: n, clock, heartbeatMs: 100, leaseMs: LEASE });
        leases[n]!.setInternalUrl(`https://node-${n}.internal:7443`);
        await leases[n]!.start({ timers: false });
        reg[n] = new LiveUplinks({ db, nodeId: n, leaseMs: LEASE, clock });
      }
    });
    afterAll(async () => {
      for (const l of Object.values(leases)) l.halt();
      await db?.close();
    });

    test("another node finds the uplink with its internal URL; the holder itself does not", async () => {
      expect(await reg.b!.locate("s1", "cam", "sub")).toBeNull();
      await reg.a!.register("s1", "cam", "sub");
      expect(await reg.b!.locate("s1", "cam", "sub")).toEqual({ nodeId: "a", internalUrl: "https://node-a.internal:7443", sinceMs: clock.now() });
      expect(await reg.a!.locate("s1", "cam", "sub")).toBeNull();
      expect(await reg.b!.locate("s1", "cam", "main")).toBeNull();
      expect(await reg.b!.locate("s1", "other", "sub")).toBeNull();
    });

    test("the edge moved its uplink: the newer node's row wins, and the old node's unregister leaves it", async () => {
      clock.advance(10);
      await reg.b!.register("s1", "cam", "sub");
      expect((await reg.a!.locate("s1", "cam", "sub"))?.nodeId).toBe("b");
      await reg.a!.unregister("s1", "cam", "sub");
      expect((await reg.a!.locate("s1", "cam", "sub"))?.nodeId).toBe("b");
      await reg.b!.unregister("s1", "cam", "sub");
      expect(await reg.a!.locate("s1", "cam", "sub")).toBeNull();
    });

    test("a node whose heartbeat lapsed: its rows are ignored, then purged; a live node's stay", async () => {
      await reg.a!.register("s2", "cam", "main");
      await reg.b!.register("s3", "cam", "main");
      clock.advance(LEASE + 1);
      await leases.b!.round(); // b keeps beating; a has died
      expect(await reg.b!.locate("s2", "cam", "main")).toBeNull();
      expect(await reg.b!.purge()).toBe(1);
      const rows = await db.query<{ site: string; node_id: string }>(`SELECT site, node_id FROM live_uplinks ORDER BY site`);
      expect(rows).toEqual([{ site: "s3", node_id: "b" }]);
      expect(await reg.b!.clearOwn()).toBe(1);
    });

    test("bad stream names never reach the table", async () => {
      await expect(reg.a!.register("s1", "cam", "hd" as never)).rejects.toThrow();
    });
  });
}
