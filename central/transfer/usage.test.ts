/**
 * Byte counts per site/day/link (usage.ts) and live bytes (live-budget.ts) on both drivers:
 * they survive a restart (a new ledger on another handle reads them), and two nodes counting
 * the same site at once add up — each flush adds to the stored row, never overwrites it.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { LiveBudget } from "./live-budget.ts";
import { transferTestDrivers } from "./test-db.ts";
import { UsageLedger } from "./usage.ts";

const t = transferTestDrivers();
// The first test of a driver starts its PostgreSQL server or PGlite; a loaded machine takes a while.
setDefaultTimeout(120_000);
afterAll(() => t.stop());

for (const d of t.drivers) {
  describe.skipIf(d.skip)(`usage counters: ${d.name}`, () => {
    test("bytes per day and link survive a restart and add up across flushes", async () => {
      const { a, b, close } = await d.open();
      try {
        const d1 = Date.parse("2026-11-30T23:59:00Z");
        const d2 = Date.parse("2026-12-01T08:00:00Z");
        let ledger = new UsageLedger(a);
        ledger.add("s1", "cellular", d1, 1000);
        ledger.add("s1", "cellular", d1, 500);
        ledger.add("s1", "wifi", d2, 70);
        ledger.add("s2", "wifi", d2, 9);
        ledger.add("s1", "wifi", d2, 0); // nothing
        await ledger.flush();
        ledger.add("s1", "wifi", d2 + 3_600_000, 30);
        await ledger.flush();
        ledger = new UsageLedger(b); // another process/node reading the shared rows
        expect(await ledger.days("s1", d2, 31)).toEqual([
          { day: "2026-11-30", link: "cellular", bytes: 1500 },
          { day: "2026-12-01", link: "wifi", bytes: 100 },
        ]);
        // the window ends with the day of "now" and reaches back `days` days
        expect(await ledger.days("s1", d2, 1)).toEqual([{ day: "2026-12-01", link: "wifi", bytes: 100 }]);
        // per budget month too (the budget view), tr_usage rows of older versions added in
        await a.run(`INSERT INTO tr_usage VALUES ($1, $2, $3, $4)`, ["s1", "2026-11", "cellular", 5]);
        expect(await ledger.month("s1", "2026-11")).toEqual([{ link: "cellular", bytes: 1505 }]);
        expect(await ledger.month("s1", "2026-12")).toEqual([{ link: "wifi", bytes: 100 }]);
        // another site's bytes stay its own; a quote in a site id is data, not SQL
        expect(await ledger.days("s2", d2, 31)).toEqual([{ day: "2026-12-01", link: "wifi", bytes: 9 }]);
        expect(await ledger.days("x' OR '1'='1", d2, 31)).toEqual([]);
      } finally {
        await close();
      }
    });

    test("two nodes flushing the same site's counts at once add up (no update is lost)", async () => {
      const { a, b, close } = await d.open();
      try {
        const at = Date.parse("2026-12-03T10:00:00Z");
        const nodes = [new UsageLedger(a), new UsageLedger(b)];
        const rounds = 15;
        await Promise.all(
          nodes.map(async (ledger, i) => {
            for (let r = 0; r < rounds; r++) {
              ledger.add("bus-1", "cellular", at, 1000 + i); // the same row from both nodes
              ledger.add("bus-1", i ? "wifi" : "cellular", at + 3_600_000, 7);
              await ledger.flush();
            }
          }),
        );
        expect(await nodes[0]!.days("bus-1", at, 1)).toEqual([
          { day: "2026-12-03", link: "cellular", bytes: rounds * (1000 + 1001 + 7) },
          { day: "2026-12-03", link: "wifi", bytes: rounds * 7 },
        ]);
        // Live bytes (central's live relay, counted per node) add up the same way.
        const clock = { now: () => at };
        const live = [a, b].map((db) => new LiveBudget({ db, clock, policy: async () => ({ policy: null }), linkOf: () => "cellular" }));
        await Promise.all(
          live.map(async (l) => {
            for (let r = 0; r < rounds; r++) {
              l.add("bus-1", 2500);
              await l.flush();
            }
          }),
        );
        expect((await live[1]!.state("bus-1")).liveBytes).toBe(2 * rounds * 2500);
      } finally {
        await close();
      }
    });
  });
}
