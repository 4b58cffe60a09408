/**
 * "See before you pull", end to end on loopback: camsim cameras with scripted activity (a block
 * moving at set times) → a real edge (thumbnails + activity beside its segments) enrolled with a
 * real central over mTLS → previews synced in their own class → central finds the activity
 * times of both cameras from its activity index alone (the edge stopped, no video at central),
 * its thumbnails equal the edge's by hash, next/previous activity, and a link that does not
 * allow the preview class holds them back until it does.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdir, readFile } from "node:fs/promises";
import { chromium } from "playwright-core";
import { join } from "node:path";
import { startCamsim, type Camsim } from "../camsim/index.ts";
import { startCentralSite, type CentralSite } from "../central/main.ts";
import { startEdge, type Edge } from "../edge/main.ts";
import { enroll, type Identity } from "../edge/identity/index.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { decodePreview, sha256Hex } from "../lib/preview/format.ts";
import { previewRelPath } from "../lib/store/layout.ts";
import { CHROMIUM_ARGS, REPO, removeTempDirs, tempDir, until } from "./helpers.ts";

const ART = join(REPO, "test-artifacts", "preview");

setDefaultTimeout(180_000);

let sim: Camsim;
let site: CentralSite;
let edge: Edge;
let identity: Identity;
let token: string;
let edgeDir: string;
let t0: number;
const windows = { cam1: { fromMs: 0, toMs: 0 }, cam2: { fromMs: 0, toMs: 0 } };

const api = async <T = any>(path: string, init: RequestInit = {}): Promise<{ status: number; body: T; headers: Headers; bytes: Uint8Array }> => {
  const r = await fetch(site.central.apiUrl + path, { ...init, headers: { "content-type": "application/json", authorization: `Bearer ${token}`, ...(init.headers ?? {}) } });
  const bytes = new Uint8Array(await r.arrayBuffer());
  const text = new TextDecoder().decode(bytes);
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: r.status, body: body as T, headers: r.headers, bytes };
};
const iso = (ms: number) => new Date(ms).toISOString();
const edgeConfig = () => ({
  dataDir: edgeDir,
  storage: { segmentDurationMs: 4000, minFreeBytes: 0 },
  api: { enabled: false },
  preview: { everySeconds: 2 },
  ingest: { staggerMs: 100 },
  federation: { share: ["*"], link: "cellular" },
  cameras: sim.cameras.map((c) => ({ id: c.id, rtsp: { main: c.rtspMain, sub: c.rtspSub } })),
});

beforeAll(async () => {
  const root = await tempDir("outpost-preview-sys-");
  const log = new Logger({ component: "test", sink: new MemorySink(), level: "info" });
  sim = await startCamsim({ cameras: 2, user: "", discoveryPort: null, pattern: "colors", main: { width: 640, height: 360, fps: 10, bitrateKbps: 400 }, sub: { width: 320, height: 180, fps: 10, bitrateKbps: 150 }, log });
  site = await startCentralSite({ dataDir: join(root, "central"), api: { port: 0, plainHttp: true }, enroll: { port: 0 }, federation: { port: 0 }, mqtt: { port: 0 }, live: { rtsp: { enabled: false } } } as never, { log });
  token = ((await (await fetch(site.central.apiUrl + "/api/v1/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "admin", password: site.central.initialAdminPassword }) })).json()) as { token: string }).token;
  const t = await site.central.createEnrollmentToken("Bus 9");
  edgeDir = join(root, "edge");
  identity = await enroll({ centralUrl: site.central.enrollUrl, token: t.token, dataDir: edgeDir, log });
  // Scripted activity: cam1 6–10 s from now, cam2 14–17 s from now (pictures only, no ONVIF).
  t0 = Date.now();
  windows.cam1 = { fromMs: t0 + 6000, toMs: t0 + 10_000 };
  windows.cam2 = { fromMs: t0 + 14_000, toMs: t0 + 17_000 };
  await sim.scheduleActivity("cam1", [windows.cam1]);
  await sim.scheduleActivity("cam2", [windows.cam2]);
  edge = await startEdge(edgeConfig(), { log });
}, 60_000);

afterAll(async () => {
  await edge?.stop().catch(() => undefined);
  await site?.close().catch(() => undefined);
  await sim?.close().catch(() => undefined);
  await removeTempDirs();
});

test("central finds each camera's activity from the activity index alone; thumbnails equal the edge's by hash; no video moved", async () => {
  const siteId = identity.siteId;
  const search = () => api<{ results: { cameraId: string; startMs: number; endMs: number; peak: number }[] }>(`/api/v1/activity/search?from=${iso(t0)}&to=${iso(t0 + 40_000)}`);
  // Previews arrive newest first: wait until central's index covers 4–21 s from t0 for both cameras.
  const covered = async (cam: string) => {
    const b = await api<{ activity: { levels: (number | null)[] } }>(`/api/v1/cameras/${siteId}.${cam}/preview?from=${iso(t0 + 4000)}&to=${iso(t0 + 21_000)}&step=1`);
    return b.status === 200 && b.body.activity.levels.every((l) => l !== null);
  };
  await until("previews of both cameras at central", async () => (await covered("cam1")) && (await covered("cam2")), 90_000, 500);
  // Stop the edge: everything below is answered by central alone.
  const edgePreviews = await listEdgeThumbs("cam1");
  await edge.stop();
  const r = (await search()).body.results;
  for (const cam of ["cam1", "cam2"] as const) {
    const mine = r.filter((x) => x.cameraId === `${siteId}.${cam}`);
    expect(mine.length).toBeGreaterThan(0);
    // every stretch found lies in the scripted window (± a keyframe interval, the second grid and the interval a difference is spread over)
    for (const x of mine) {
      expect(x.startMs).toBeGreaterThanOrEqual(windows[cam].fromMs - 3000);
      expect(x.endMs).toBeLessThanOrEqual(windows[cam].toMs + 3000);
    }
    // and together they cover most of it
    const covered = mine.reduce((a, x) => a + Math.min(x.endMs, windows[cam].toMs) - Math.max(x.startMs, windows[cam].fromMs), 0);
    expect(covered).toBeGreaterThanOrEqual((windows[cam].toMs - windows[cam].fromMs) / 2);
  }
  // next / previous from the activity index
  const next = await api(`/api/v1/cameras/${siteId}.cam1/activity/step?at=${iso(t0)}&direction=next`);
  expect(next.status).toBe(200);
  expect(next.body.startMs).toBeGreaterThanOrEqual(windows.cam1.fromMs - 2000);
  const prev = await api(`/api/v1/cameras/${siteId}.cam2/activity/step?at=${iso(t0 + 40_000)}&direction=previous`);
  expect(prev.status).toBe(200);
  expect(prev.body.endMs).toBeLessThanOrEqual(windows.cam2.toMs + 2000);
  const none = await api(`/api/v1/cameras/${siteId}.cam1/activity/step?at=${iso(windows.cam1.toMs + 3000)}&direction=next`);
  expect(none.status).toBe(404);
  // the band: high inside cam1's window, 0 well outside it
  const band = await api<{ thumbnails: { atMs: number; sha256: string }[]; activity: { fromMs: number; stepMs: number; levels: (number | null)[] } }>(`/api/v1/cameras/${siteId}.cam1/preview?from=${iso(t0)}&to=${iso(t0 + 30_000)}&step=1`);
  expect(band.status).toBe(200);
  const lv = band.body.activity.levels;
  const at = (ms: number) => lv[Math.floor((ms - t0) / 1000)];
  expect(Math.max(...[7000, 8000, 9000].map((d) => at(t0 + d) ?? 0))).toBeGreaterThanOrEqual(5);
  expect(at(t0 + 20_000)).toBe(0);
  // thumbnails: the strip lists what the edge made; each picture is byte-identical to the edge's
  expect(band.body.thumbnails.length).toBeGreaterThanOrEqual(5);
  const byAt = new Map(edgePreviews.map((p) => [p.atMs, p.sha256]));
  let compared = 0;
  for (const th of band.body.thumbnails) {
    if (!byAt.has(th.atMs)) continue;
    const pic = await api(`/api/v1/cameras/${siteId}.cam1/preview/thumbnail?at=${th.atMs}`);
    expect(pic.status).toBe(200);
    expect(pic.headers.get("content-type")).toBe("image/jpeg");
    expect(sha256Hex(pic.bytes)).toBe(byAt.get(th.atMs)!);
    compared++;
  }
  expect(compared).toBeGreaterThanOrEqual(5);
  // no video was transferred (the policy is edge-only): central holds no segment of either camera
  for (const cam of ["cam1", "cam2"]) {
    const segs = await api<{ segments: unknown[] }>(`/api/v1/cameras/${siteId}.${cam}/segments?from=${iso(t0 - 60_000)}&to=${iso(t0 + 60_000)}`);
    expect(segs.body.segments).toEqual([]);
  }
  expect(site.transfer.receiver.stats.bytesReceived).toBe(0);
  // bad input: a clear problem
  const bad = await api(`/api/v1/cameras/${siteId}.cam1/preview/thumbnail`);
  expect(bad.status).toBe(400);
  expect(bad.headers.get("content-type")).toContain("application/problem+json");

  // central's web client: the strip and the band under the timeline, "next activity" moves the view there
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    // centred 20 s before cam1's activity, so "next activity" has something to find
    const url = `${site.central.apiUrl}/playback?camera=${siteId}.cam1&t=${iso(windows.cam1.fromMs - 20_000)}`;
    await page.goto(url);
    await page.getByLabel("User").fill("admin");
    await page.getByLabel("Password").fill(site.central.initialAdminPassword!);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("button", { name: "Log out" }).waitFor();
    await page.goto(url);
    const strip = page.locator(".preview-strip");
    await strip.waitFor();
    const canvas = page.getByRole("slider");
    for (let i = 0; i < 5; i++) await canvas.press("+");
    await until("thumbnails and activity in the strip", async () => Number(await strip.getAttribute("data-thumbs")) >= 3 && Number(await strip.getAttribute("data-active")) >= 1, 20_000, 250);
    await until("thumbnails loaded", () => page.evaluate(() => [...document.querySelectorAll(".preview-strip img")].every((i) => (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth === 160)), 20_000, 250);
    await mkdir(ART, { recursive: true });
    await page.screenshot({ path: join(ART, "preview-strip.png") });
    await page.getByRole("button", { name: "Next activity ▶" }).click();
    await page.getByText(/Next activity .* \(level \d+\)/).waitFor();
    await page.screenshot({ path: join(ART, "preview-next-activity.png") });
  } finally {
    await browser.close();
  }
});

test("a link that does not allow the preview class holds previews back; allowing it lets them through, counted in the link's budget", async () => {
  const siteId = identity.siteId;
  const policy = (allow: string[]) => api(`/api/v1/sites/${siteId}/policy`, { method: "PUT", body: JSON.stringify({ options: ["edge-only"], links: { cellular: { allow, monthlyBytes: 50_000_000 } } }) });
  expect((await policy(["alarm", "request"])).status).toBe(200);
  edge = await startEdge(edgeConfig(), { log: new Logger({ component: "test", sink: new MemorySink(), level: "info" }) });
  await until("the edge holds previews back (policy applied)", () => edge.previewSync!.status().held === "link-or-budget", 60_000, 200);
  const stored = site.preview.store.stats.stored;
  await until("new previews waiting at the edge", () => edge.previewSync!.status().pending >= 2, 30_000, 200);
  expect(site.preview.store.stats.stored).toBe(stored);
  expect(edge.previewSync!.status().held).toBe("link-or-budget");
  expect((await policy(["alarm", "request", "preview"])).status).toBe(200);
  await until("previews through once allowed", () => site.preview.store.stats.stored >= stored + 2, 60_000, 200);
  // what went counts against the link's monthly budget at the edge (no video moved: edge-only)
  const sent = edge.previewSync!.status().sentBytes;
  expect(sent).toBeGreaterThan(0);
  // the cost of pulling the last seconds, per stream, before a retrieval starts
  const est = await api(`/api/v1/cameras/${siteId}.cam1/retrieval-estimate?from=${iso(Date.now() - 20_000)}&to=${iso(Date.now() - 6000)}`);
  expect(est.status).toBe(200);
  expect(est.body.streams.sub.bytes).toBeGreaterThan(0);
  expect(est.body.streams.main.bytes).toBeGreaterThan(est.body.streams.sub.bytes);
  expect(est.body.budget.monthlyBytes).toBe(50_000_000);
  expect(est.body.budget.remainingBytes).toBeLessThanOrEqual(50_000_000);
  expect(est.body.streams.main.text).toMatch(/^≈ \d+ (kB|MB) of the \d+ MB left this month on cellular$/);
  expect(est.body.streams.main.fits).toBe(true);
  await until("usage saved", async () => (JSON.parse(await readFile(join(edgeDir, "transfer", "usage.json"), "utf8")) as { byLink: Record<string, number> }).byLink.cellular! >= sent, 10_000);
});

async function listEdgeThumbs(cameraId: string): Promise<{ atMs: number; sha256: string }[]> {
  const segs = await edge.store.segments({ cameraId, stream: "sub", fromMs: 0, toMs: Date.now() + 60_000 });
  const out: { atMs: number; sha256: string }[] = [];
  for (const s of segs) {
    const buf = await readFile(join(edgeDir, previewRelPath(s.path))).catch(() => null);
    if (!buf) continue;
    const p = decodePreview(new Uint8Array(buf));
    p.header.thumbs.forEach((t, i) => out.push({ atMs: t.atMs, sha256: sha256Hex(p.thumbs[i]!) }));
  }
  return out;
}
