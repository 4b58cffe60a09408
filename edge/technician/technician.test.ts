import { afterAll, expect, test } from "bun:test";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ManualClock } from "../../lib/clock.ts";
import type { UplinkStatus } from "../uplink/index.ts";
import { technicianView, type TechnicianInputs } from "./index.ts";

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const NOW = Date.parse("2026-12-03T12:00:00Z");
const HOUR = 3_600_000;

function inputs(dataDir: string, uplink: UplinkStatus | null): TechnicianInputs {
  return {
    clock: new ManualClock(NOW),
    dataDir,
    cameraIds: () => ["cam1", "cam2"],
    store: {
      cameras: async () => [
        { cameraId: "cam1", stream: "main", firstMs: NOW - 5 * HOUR, lastMs: NOW - 1000, bytes: 700 },
        { cameraId: "cam1", stream: "sub", firstMs: NOW - 6 * HOUR, lastMs: NOW - 2000, bytes: 300 },
      ],
      usage: async () => ({ totalBytes: 1000, volumeFreeBytes: 5000, volumeTotalBytes: 10_000 }),
    },
    retention: (id) => (id === "cam1" ? { maxAgeMs: 24 * HOUR } : {}),
    minFreeBytes: 64,
    identity: () => ({ siteId: "bus-1", notAfterMs: NOW + 10 * 86_400_000 + HOUR }),
    uplink: () => uplink,
  };
}

const status = (o: Partial<UplinkStatus>): UplinkStatus => ({
  connected: false,
  connects: 1,
  outbox: { id: "ob", pending: 3, bytes: 120, dropped: 0, acked: 7, lastSeq: 10 },
  config: { appliedVersion: null, rejected: null },
  clock: { offsetMs: 5, trusted: true },
  lastAckMs: NOW - 60_000,
  lastError: null,
  ...o,
});

test("storage: each camera's oldest footage over its streams and its retention horizon; a camera with nothing recorded says so", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "outpost-tech-"));
  dirs.push(dir);
  const v = await technicianView(inputs(dir, status({ connected: true })));
  expect(v.storage.cameras).toEqual([
    { cameraId: "cam1", bytes: 1000, oldestFootage: new Date(NOW - 6 * HOUR).toISOString(), newestFootage: new Date(NOW - 1000).toISOString(), retention: { maxAgeHours: 24, maxBytes: null, horizon: new Date(NOW - 24 * HOUR).toISOString() } },
    { cameraId: "cam2", bytes: 0, oldestFootage: null, newestFootage: null, retention: { maxAgeHours: null, maxBytes: null, horizon: null } },
  ]);
  expect(v.storage.volumes[0]).toMatchObject({ totalBytes: 10_000, freeBytes: 5000, storeBytes: 1000, minFreeBytes: 64 });
  expect(v.central).toMatchObject({ enrolled: true, siteId: "bus-1", connected: true, lastAck: new Date(NOW - 60_000).toISOString(), outbox: { pending: 3, bytes: 120, dropped: 0 }, certificate: { daysLeft: 10 }, refused: false });
  expect(v.software).toEqual({ version: expect.any(String), firmware: null });
});

test("link: 'refused' only when central answered not-authorized, never for a network failure or while connected", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "outpost-tech-"));
  dirs.push(dir);
  const refused = async (st: UplinkStatus | null) => ((await technicianView(inputs(dir, st))).central as { refused?: boolean }).refused;
  expect(await refused(status({ lastError: { reason: "Connection refused: Not authorized", atMs: NOW } }))).toBe(true);
  expect(await refused(status({ lastError: { reason: "connection closed", atMs: NOW } }))).toBe(false);
  expect(await refused(status({ lastError: { reason: "connect ECONNREFUSED 10.0.0.1:8883", atMs: NOW } }))).toBe(false);
  expect(await refused(status({ connected: true, lastError: { reason: "Connection refused: Not authorized", atMs: NOW - 1000 } }))).toBe(false);
  // not enrolled
  const v = await technicianView({ ...inputs(dir, null), identity: () => null });
  expect(v.central).toEqual({ enrolled: false });
});

test("firmware slot of an appliance install (DATA/firmware/state.json) with its last update", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "outpost-tech-"));
  dirs.push(dir);
  await mkdir(path.join(dir, "firmware", "slots", "b"), { recursive: true });
  await writeFile(path.join(dir, "firmware", "slots", "b", "targets.json"), JSON.stringify({ signed: { release: { version: "1.2.3" } } }));
  await writeFile(
    path.join(dir, "firmware", "state.json"),
    JSON.stringify({ current: "b", pending: null, tries: 0, maxTries: 3, lastTargetsVersion: 4, centralWasReachable: true, campaignId: null, lastResult: { version: "1.2.3", outcome: "committed", at: "2026-12-01T00:00:00Z", campaignId: null, reported: true } }),
  );
  const v = await technicianView(inputs(dir, null));
  expect(v.software.firmware).toEqual({ slot: "b", slotVersion: "1.2.3", pending: null, lastResult: { version: "1.2.3", outcome: "committed", reason: null, at: "2026-12-01T00:00:00Z" } });
});
