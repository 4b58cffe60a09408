import { afterAll, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { openTransferDb } from "./db.ts";
import { UsageLedger } from "./usage.ts";

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

test("bytes per day and link survive a restart (the DuckDB file is reopened) and add up across flushes", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "outpost-usage-"));
  dirs.push(dir);
  const file = path.join(dir, "transfer.duckdb");
  const d1 = Date.parse("2026-11-30T23:59:00Z");
  const d2 = Date.parse("2026-12-01T08:00:00Z");
  let db = await openTransferDb(file);
  let ledger = new UsageLedger(db);
  ledger.add("s1", "cellular", d1, 1000);
  ledger.add("s1", "cellular", d1, 500);
  ledger.add("s1", "wifi", d2, 70);
  ledger.add("s2", "wifi", d2, 9);
  ledger.add("s1", "wifi", d2, 0); // nothing
  await ledger.flush();
  ledger.add("s1", "wifi", d2 + 3_600_000, 30);
  await ledger.flush();
  await db.close();

  db = await openTransferDb(file);
  ledger = new UsageLedger(db);
  expect(await ledger.days("s1", d2, 31)).toEqual([
    { day: "2026-11-30", link: "cellular", bytes: 1500 },
    { day: "2026-12-01", link: "wifi", bytes: 100 },
  ]);
  // the window ends with the day of "now" and reaches back `days` days
  expect(await ledger.days("s1", d2, 1)).toEqual([{ day: "2026-12-01", link: "wifi", bytes: 100 }]);
  // per budget month too (the budget view)
  expect(await ledger.month("s1", "2026-11")).toEqual([{ link: "cellular", bytes: 1500 }]);
  expect(await ledger.month("s1", "2026-12")).toEqual([{ link: "wifi", bytes: 100 }]);
  // another site's bytes stay its own; a quote in a site id is data, not SQL
  expect(await ledger.days("s2", d2, 31)).toEqual([{ day: "2026-12-01", link: "wifi", bytes: 9 }]);
  expect(await ledger.days("x' OR '1'='1", d2, 31)).toEqual([]);
  await db.close();
});
