/**
 * The control plane's fenced batch on both drivers, with two central nodes' control planes on
 * one database (real Leases and OwnedSiteTopics; the broker replaced by an in-memory bus that
 * records acks): a paused former owner's batch is refused by the fence — nothing stored, nothing
 * acknowledged — and the new owner, running since before the old owner stored anything, reads
 * the old owner's committed watermark inside its transaction, so the edge's re-send stores
 * only what is new: no event twice, the ack covers everything. (The bus: ./testkit.ts.)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import path from "node:path";
import { ManualClock } from "../../lib/clock.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { Leases, OwnedSiteTopics } from "../cluster/index.ts";
import { driversInTempDir } from "../database-testkit.ts";
import type { Database } from "../db/index.ts";
import { openMigratedPair } from "../db/testkit.ts";
import type { Db } from "../db.ts";
import { openFleetTables } from "../mirror/tables.ts";
import { ControlPlane } from "./control.ts";
import { MemoryBus } from "./testkit.ts";

const SITE = "bus-7";
const OB = "0123456789abcdef";
const T0 = Date.UTC(2026, 11, 4, 9, 0, 0);
const quiet = () => new Logger({ component: "test", sink: new MemorySink() });

const { drivers, tmp } = driversInTempDir("control");

for (const d of drivers) {
  describe.skipIf(d.skip)(`control plane on two nodes: ${d.name}`, () => {
    let dbA: Database;
    let dbB: Database;
    let closeDbs: () => Promise<void>;
    const fleets: Db[] = [];
    beforeAll(async () => {
      ({ a: dbA, b: dbB, close: closeDbs } = await openMigratedPair(d));
    });
    afterAll(async () => {
      for (const f of fleets) await f.close();
      await closeDbs?.();
    });

    async function node(db: Database, nodeId: string, clock: ManualClock) {
      const leases = new Leases({ db, nodeId, clock, heartbeatMs: 1000, leaseMs: 3000 });
      const bus = new MemoryBus(SITE);
      const fleet = await openFleetTables(path.join(tmp(), `${d.name.split(" ")[0]}-${nodeId}.duckdb`));
      fleets.push(fleet);
      const ownership = new OwnedSiteTopics({ leases, sites: () => [SITE] });
      const cp = new ControlPlane({ db, fleet, bus, clock, log: quiet(), ownership });
      await cp.init();
      return { leases, bus, cp, ownership };
    }

    test("a paused former owner's batch is fenced out (not stored, not acked); the new owner's watermark deduplicates the edge's re-send", async () => {
      // Each node's own clock: the old owner is paused, its clock does not move; the new owner's does.
      const clockA = new ManualClock(T0);
      const clockB = new ManualClock(T0);
      const a = await node(dbA, "node-a", clockA);
      const b = await node(dbB, "node-b", clockB); // running all along, not yet owning anything
      await a.leases.start({ timers: false });
      await a.ownership.sync();
      a.bus.send(OB, 1, 3, T0);
      await a.cp.idle();
      expect(a.bus.acks.at(-1)).toEqual(expect.objectContaining({ ob: OB, upTo: 3 }));

      a.leases.halt(); // paused by the OS: it still believes it owns the site (its clock stands still)
      clockB.advance(3001);
      await b.leases.start({ timers: false });
      expect(b.leases.owns(SITE)).toBe(true);
      expect(a.leases.owns(SITE)).toBe(true);
      const acksBefore = a.bus.acks.length;
      a.bus.send(OB, 4, 5, T0); // received before the pause, processed after it
      await a.cp.idle();
      expect(a.bus.acks.length).toBe(acksBefore); // nothing acknowledged: the edge re-sends to the owner
      expect(await dbA.query(`SELECT last_seq FROM cp_seq WHERE site_id = $1`, [SITE])).toEqual([{ last_seq: 3 }]);

      // The edge re-sends from its oldest unacknowledged message; here from 1, as after a reconnect.
      await b.ownership.sync(); // subscribed to what it now owns
      b.bus.send(OB, 1, 5, T0);
      await b.cp.idle();
      expect(b.bus.acks.at(-1)).toEqual(expect.objectContaining({ ob: OB, upTo: 5 }));
      expect(await dbB.query(`SELECT seq FROM cp_rejected`)).toEqual([]);
      const rows = await dbB.query<{ seq: number; n: number }>(`SELECT seq, count(*)::int AS n FROM cp_events WHERE site_id = $1 GROUP BY seq ORDER BY seq`, [SITE]);
      expect(rows).toEqual([1, 2, 3, 4, 5].map((seq) => ({ seq, n: 1 })));
      expect(b.cp.stats.duplicates).toBe(3);
      await b.leases.close();
    });

    test("the node that takes a site over asks each of its outboxes at once to re-send from the shared watermark (an edge in resend backoff need not wait)", async () => {
      await dbA.exec(`DELETE FROM cp_seq; DELETE FROM cp_events; DELETE FROM central_nodes; UPDATE partitions SET node_id = NULL, epoch = 0, lease_until_ms = 0`);
      const clockA = new ManualClock(T0);
      const clockB = new ManualClock(T0);
      const a = await node(dbA, "node-a", clockA);
      const b = await node(dbB, "node-b", clockB);
      await a.leases.start({ timers: false });
      await a.ownership.sync();
      expect(a.bus.acks.filter((x) => (x as { resend?: boolean }).resend)).toEqual([]); // nothing stored yet: no outbox to ask
      a.bus.send(OB, 1, 3, T0);
      await a.cp.idle();

      a.leases.halt(); // a dies; b claims once a's lease ran out, and subscribes
      clockB.advance(3001);
      await b.leases.start({ timers: false });
      expect(b.bus.acks).toEqual([]);
      await b.ownership.sync();
      expect(b.bus.acks).toEqual([expect.objectContaining({ ob: OB, upTo: 3, resend: true })]);
      await b.leases.close();
    });

    test("a batch PostgreSQL picks as a deadlock victim is stored on a second try, not refused", async () => {
      // The first batch transaction does its writes and then fails as a deadlock victim (rolled back).
      let deadlocks = 1;
      const victim: Database = Object.create(dbA, {
        transaction: {
          value: <T>(fn: (tx: Parameters<Parameters<Database["transaction"]>[0]>[0]) => Promise<T>) =>
            dbA.transaction(async (tx) => {
              const r = await fn(tx);
              if (deadlocks-- > 0) throw Object.assign(new Error("deadlock detected"), { code: "40P01" });
              return r;
            }),
        },
      });
      const site = "bus-9";
      const bus = new MemoryBus(site);
      const fleet = await openFleetTables(path.join(tmp(), `${d.name.split(" ")[0]}-victim.duckdb`));
      fleets.push(fleet);
      const cp = new ControlPlane({ db: victim, fleet, bus, clock: new ManualClock(T0), log: quiet() });
      await cp.init();
      bus.send(OB, 1, 3, T0);
      await cp.idle();
      expect(await dbA.query(`SELECT seq FROM cp_rejected WHERE site_id = $1`, [site])).toEqual([]);
      const rows = await dbA.query<{ seq: number }>(`SELECT seq FROM cp_events WHERE site_id = $1 ORDER BY seq`, [site]);
      expect(rows.map((r) => Number(r.seq))).toEqual([1, 2, 3]);
      expect(bus.acks.at(-1)).toEqual(expect.objectContaining({ ob: OB, upTo: 3 }));
      expect(cp.stats.retriedBatches).toBe(1);
    });

    test("with batchLingerMs a short queue waits for more: messages arriving meanwhile share one transaction", async () => {
      let transactions = 0;
      const counting: Database = Object.create(dbA, {
        transaction: { value: <T>(fn: Parameters<Database["transaction"]>[0]) => (transactions++, dbA.transaction(fn) as Promise<T>) },
      });
      const site = "bus-11";
      const bus = new MemoryBus(site);
      const fleet = await openFleetTables(path.join(tmp(), `${d.name.split(" ")[0]}-linger.duckdb`));
      fleets.push(fleet);
      // Long enough that the second message surely arrives within it, however slow the machine.
      const cp = new ControlPlane({ db: counting, fleet, bus, clock: new ManualClock(T0), log: quiet(), batchLingerMs: 1000 });
      await cp.init();
      const before = transactions;
      bus.send(OB, 1, 1, T0);
      await new Promise((r) => setTimeout(r, 0));
      bus.send(OB, 2, 3, T0);
      await cp.idle();
      expect(transactions - before).toBe(1);
      expect(bus.acks.at(-1)).toEqual(expect.objectContaining({ ob: OB, upTo: 3 }));
    });
  });
}
