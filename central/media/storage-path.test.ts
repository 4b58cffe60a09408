/** storage.path: central opens its recordings where the config says, not under dataDir. */
import { afterAll, expect, test } from "bun:test";
import { existsSync, promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startCentralSite } from "../main.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";

const root = await fs.mkdtemp(path.join(os.tmpdir(), "outpost-storagepath-"));
afterAll(() => fs.rm(root, { recursive: true, force: true }));

test("central keeps its store at storage.path (e.g. a shared mount) and nothing under dataDir/store", async () => {
  const dataDir = path.join(root, "data");
  const shared = path.join(root, "mnt", "media");
  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const c = await startCentralSite(
    { dataDir, api: { port: 0, plainHttp: true }, enroll: { port: 0 }, federation: { port: 0 }, mqtt: { port: 0 }, storage: { path: shared, minFreeBytes: 0 } },
    { log: new Logger({ component: "t", sink: new MemorySink(), level: "error" }) },
  );
  expect(c.store.root).toBe(shared);
  await c.close();
  expect(existsSync(path.join(shared, "index.duckdb"))).toBe(true);
  expect(existsSync(path.join(shared, "CLEAN"))).toBe(true);
  expect(existsSync(path.join(dataDir, "store"))).toBe(false);
});
