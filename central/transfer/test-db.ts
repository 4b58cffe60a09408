/**
 * Test support: the transfer state's tests run on both drivers of central/db (testDrivers in
 * central/db/testkit.ts: embedded PGlite and a throwaway PostgreSQL 15 server), migrated to the
 * latest version. "Two nodes" are two Database handles on one server database; on PGlite (one
 * process, one connection) both share the handle.
 */
import { mkdtempSync, promises as fs } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { openMigratedPair, testDrivers, type MigratedPair } from "../db/testkit.ts";

export interface TestDrivers {
  drivers: { name: string; skip: boolean; open: () => Promise<MigratedPair> }[];
  stop(): Promise<void>;
}

export function transferTestDrivers(): TestDrivers {
  let tmp: string | undefined;
  const base = testDrivers(() => (tmp ??= mkdtempSync(path.join(tmpdir(), "outpost-transferdb-"))));
  return {
    drivers: base.drivers.map((d) => ({
      name: d.name,
      skip: d.skip,
      open: () => openMigratedPair(d),
    })),
    async stop() {
      await base.stop();
      if (tmp) await fs.rm(tmp, { recursive: true, force: true });
    },
  };
}
