/**
 * Central's own retention, end to end on a real central (startCentralSite, plain HTTP, port 0,
 * injected clock): footage in central's store older than `retention.maxAgeHours` is deleted by
 * the periodic run, a segment under an evidence lock is kept, and each deletion is in the
 * audit log (GET /api/v1/audit?action=retention). A config with an unknown retention key does
 * not start `outpost central` (exit 2, the key named).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../lib/clock.ts";
import { feed, makeMedia, type Media } from "../lib/store/testdata/media.ts";
import { startCentralSite, type CentralSite } from "../central/main.ts";
import { OUTPOST, run, until } from "./helpers.ts";
import { quiet } from "./lib/cp.ts";

let root: string;
let media: Media;
let site: CentralSite;
const T0 = Date.now() - 3_600_000;
const clock = new ManualClock(T0);
const CAM = "bus-9-abcdef.cam1";

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "outpost-central-retention-"));
  media = await makeMedia(root, 10);
  site = await startCentralSite(
    { dataDir: join(root, "central"), api: { port: 0, plainHttp: true }, enroll: { port: 0 }, federation: { port: 0 }, mqtt: { port: 0 }, live: { rtsp: { enabled: false } }, storage: { retentionIntervalMs: 1000 }, retention: { maxAgeHours: 10 / 3600 } },
    { clock, log: quiet("central") },
  );
}, 120_000);

/** Logs in at the injected clock's time (a session from before a clock jump has expired). */
async function login(): Promise<string> {
  const res = await fetch(site.central.apiUrl + "/api/v1/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "admin", password: site.central.initialAdminPassword }) });
  return ((await res.json()) as { token: string }).token;
}

afterAll(async () => {
  await site?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

test("the periodic run deletes footage older than retention.maxAgeHours, keeps the locked segment, and audits the deletion", async () => {
  // five recordings of ~4 s in central's store (one segment each: central's segments are long), the first under an evidence lock
  for (let i = 0; i < 5; i++) {
    const w = site.store.writer(CAM, "main");
    w.init(media.init, media.info);
    await feed(w, media, clock, T0, i * 10, i * 10 + 8);
    await w.end("stopped");
  }
  const before = await site.store.segments({ cameraId: CAM, fromMs: T0, toMs: T0 + 60_000 });
  expect(before.length).toBe(5);
  await site.store.createLock({ cameraId: CAM, startMs: T0 + 500, endMs: T0 + 1500, reason: "case 12", createdBy: "admin" });
  // an hour later (injected clock): everything is past 10 s; the timer (1 s) deletes all but the locked one
  clock.set(T0 + 3_600_000);
  const left = await until("central retention to delete the unlocked segments", async () => {
    const s = await site.store.segments({ cameraId: CAM, fromMs: T0, toMs: T0 + 60_000 });
    return s.length === 1 ? s : null;
  }, 30_000, 200);
  expect(left[0]!.startMs).toBe(before[0]!.startMs);
  const res = await fetch(`${site.central.apiUrl}/api/v1/audit?action=retention`, { headers: { authorization: `Bearer ${await login()}` } });
  expect(res.status).toBe(200);
  const { records } = (await res.json()) as { records: { user: string; action: string; cameraId: string; siteId: string; detail: { segments: number; bytes: number } }[] };
  expect(records.length).toBeGreaterThanOrEqual(1);
  expect(records.every((r) => r.user === "system" && r.action === "retention" && r.cameraId === CAM && r.siteId === "bus-9-abcdef")).toBe(true);
  expect(records.reduce((n, r) => n + r.detail.segments, 0)).toBe(before.length - 1);
}, 120_000);

test("an unknown key in central's retention config stops the start, naming it", async () => {
  const file = join(root, "central.yaml");
  await writeFile(file, `dataDir: ${join(root, "c2")}\nretention:\n  maxAgeHours: 24\n  maxAgeDays: 30\n`);
  const r = await run(["bun", OUTPOST, "central", "--config", file], { timeoutMs: 60_000 });
  expect(r.code).not.toBe(0);
  expect(r.stderr + r.stdout).toContain("maxAgeDays");
}, 90_000);
