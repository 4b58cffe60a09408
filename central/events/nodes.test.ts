/**
 * Event de-duplication across nodes, on both drivers (on PostgreSQL 15 two Database handles =
 * two central nodes, each with its own Events and its own memory of recent ids): an event
 * delivered to node A and then again to node B — a producer's retry after a failover — is
 * stored once and acted on (rules) once; B answers it as a duplicate. A batch mixing new and
 * already stored events stores and acts on the new ones only, in order.
 */
import { describe, expect, test } from "bun:test";
import { ManualClock } from "../../lib/clock.ts";
import { driversInTempDir, migratedPairForDescribe } from "../database-testkit.ts";
import type { Database } from "../db/index.ts";
import { Events, type EventInput } from "./index.ts";

const T0 = Date.UTC(2026, 11, 4, 11, 0, 0);
const { drivers } = driversInTempDir("eventnodes");

const ev = (id: string): EventInput => ({ id, type: "panic", time: new Date(T0).toISOString(), source: "external", siteId: "bus-1", data: { n: id } });

for (const d of drivers) {
  describe.skipIf(d.skip)(`events on two nodes: ${d.name}`, () => {
    const nodes = migratedPairForDescribe(d);

    test("an event delivered through A and again through B is stored once and acted on once", async () => {
      const { a: dbA, b: dbB } = nodes();
      const acted: string[] = [];
      const node = (db: Database, name: string) => new Events({ db, clock: new ManualClock(T0 + 1000), lateAfterMs: 60_000, onEvent: (e) => acted.push(`${name}:${e.id}`) });
      const a = node(dbA, "a");
      const b = node(dbB, "b");
      await a.init();
      await b.init(); // started before A stored anything: its memory does not know the ids

      expect((await a.ingest(ev("ext-1"))).duplicate).toBe(false);
      expect((await b.ingest(ev("ext-1"))).duplicate).toBe(true); // the retry through B
      expect((await a.ingest(ev("ext-1"))).duplicate).toBe(true); // and again through A (its memory)
      // A batch on B mixing an event A stored with new ones: only the new are stored and acted on, in order.
      const results = await Promise.all([b.ingest(ev("ext-2")), b.ingest(ev("ext-1")), b.ingest(ev("ext-3"))]);
      expect(results.map((r) => r.duplicate)).toEqual([false, true, false]);
      expect(acted).toEqual(["a:ext-1", "b:ext-2", "b:ext-3"]);
      const rows = await dbB.query<{ id: string; n: number }>(`SELECT id, count(*)::int AS n FROM events GROUP BY id ORDER BY id`);
      expect(rows).toEqual([
        { id: "ext-1", n: 1 },
        { id: "ext-2", n: 1 },
        { id: "ext-3", n: 1 },
      ]);
      await a.close();
      await b.close();
    });
  });
}
