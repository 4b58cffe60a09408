/**
 * Operator mistakes are refused with a sentence, not run silently (issue 13 item 6): a 0-byte
 * config file would start a recorder with no camera on the default port; storage.minFreeBytes
 * not below the volume's size would make retention delete every segment as soon as it closed.
 * `outpost edge` exits 2 with the reason before it records or listens.
 */
import { afterAll, expect, test } from "bun:test";
import { statfs, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { OUTPOST, removeTempDirs, run, tempDir } from "./helpers.ts";

afterAll(removeTempDirs);

test("a 0-byte config file is refused (exit 2), not started with defaults", async () => {
  const dir = await tempDir("mistakes-empty");
  const file = join(dir, "edge.yaml");
  await writeFile(file, "");
  const r = await run(["bun", OUTPOST, "edge", "--config", file], { timeoutMs: 30_000 });
  expect(r.code).toBe(2);
  expect(r.stderr).toContain("the file is empty");
});

test("storage.minFreeBytes not below the volume's size is refused (exit 2) with the sizes", async () => {
  const dir = await tempDir("mistakes-floor");
  const s = await statfs(dir);
  const file = join(dir, "edge.json");
  await writeFile(file, JSON.stringify({ dataDir: join(dir, "data"), api: { port: 0 }, storage: { minFreeBytes: s.blocks * s.bsize + 1 }, cameras: [{ id: "cam1", rtsp: { main: "rtsp://127.0.0.1:1/x" } }] }));
  const r = await run(["bun", OUTPOST, "edge", "--config", file], { timeoutMs: 30_000 });
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/minFreeBytes \(.* MiB\) is not below the size of the volume/);
});
