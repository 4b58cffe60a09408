/**
 * Issue #14, the operator's and the technician's screens (defects 3, 4, 7, 8), end to end: a
 * real `outpost demo` (central + 1 edge + camsim at 640x360 10 fps, in-process, port 0, 2 s
 * segments) driven by Debian Chromium through playwright-core. The tests share one demo and run
 * in order: policies (as set, applied), playback across a gap with frame steps and the keyboard
 * (the edge's own web client: same playback screen, no transfer load), words for people, and
 * last the revocation of bus-101 after central retrieved a range (that footage stays playable
 * and exportable at central). Screenshots: test-artifacts/web/op-*.png.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import path from "node:path";
import type { Page } from "playwright-core";
import { until } from "./helpers.ts";
import { centralTimeline, jsonClient, type HeldRange, screenshots, signIn, startWebDemo, type WebDemo } from "./browser.ts";

const FPS = 10;

let web: WebDemo;
let central: string;
let token: string;
/** bus-101's site id; its camera at central. */
let site: string;
let cam: string;

/** Calls as the admin (once signed in). */
const json = jsonClient(() => web.ca, () => token);
type Range = HeldRange;
const timeline = (id: string, from: number, to: number) => centralTimeline(json, central, id, from, to);
const shot = screenshots("web");

async function adminPage(at: string): Promise<Page> {
  const page = await web.browser.newPage({ viewport: { width: 1440, height: 900 }, acceptDownloads: true });
  await signIn(page, central + "/live", "admin", web.demo.info.central.password);
  await page.goto(central + at);
  return page;
}

beforeAll(async () => {
  web = await startWebDemo({ name: "webops", edges: 1, camerasPerEdge: 1, segmentDurationMs: 2000, camera: { width: 640, height: 360, fps: FPS } });
  ({ central, token, siteId: site } = web);
  cam = `${site}.cam1`;
}, 120_000);

afterAll(() => web?.stop());

test("4. Policies: the form shows the site's policy as set (none → edge-only, no budget), saving adds nothing, and the edge's applied version is shown", async () => {
  const before = await json<{ policy: unknown; version: number | null }>(`${central}/api/v1/sites/${site}/policy`);
  expect(before.policy).toBeNull();
  const page = await adminPage("/admin/policies");
  page.on("pageerror", (e) => console.error("page error:", e.message));
  const form = page.getByRole("form", { name: "Policy" });
  await form.getByLabel("Applies to").selectOption(`site:${site}`);
  await page.getByTestId("policy-state").filter({ hasText: "No policy is set" }).waitFor();
  const box = (o: string) => form.locator("label.check", { hasText: new RegExp(`^\\s*${o}\\s*$`) }).locator("input");
  expect(await box("edge-only").isChecked()).toBe(true);
  expect(await box("on-request").isChecked()).toBe(false);
  expect(await form.getByLabel("Monthly budget (GB)").inputValue()).toBe("");
  expect(await form.getByLabel("Rate cap (Mbit/s)").inputValue()).toBe("");
  await shot(page, "op-04-policy-unset");

  // on request, with a monthly budget: exactly that is stored, nothing added
  await box("edge-only").uncheck();
  await box("on-request").check();
  await form.getByLabel("Monthly budget (GB)").fill("5");
  await form.getByRole("button", { name: "Save policy" }).click();
  const v = (before.version ?? 0) + 1;
  await page.getByText(`Policy saved as version ${v}`).waitFor();
  expect(await page.getByText("when it next connects").count()).toBe(0);
  const stored = await json<{ policy: unknown; version: number }>(`${central}/api/v1/sites/${site}/policy`);
  expect(stored.version).toBe(v);
  expect(stored.policy).toEqual({ options: ["on-request"], budget: { monthlyBytes: 5e9, rateBitsPerSecond: null } });
  // the edge applies it at once, and the form says so with the version
  await page.getByTestId("policy-state").filter({ hasText: `version ${v} applied` }).waitFor({ timeout: 90_000 });
  expect(await page.getByTestId("policy-state").textContent()).toContain(`Set: version ${v}`);
  await shot(page, "op-04-policy-applied");

  // the camera follows the site's policy (no override): the form shows the site's options
  await form.getByLabel("Applies to").selectOption(`camera:${cam}`);
  await page.getByText("This camera has no override").waitFor();
  expect(await box("on-request").isChecked()).toBe(true);
  // chosen again, the site shows its policy (not the defaults)
  await form.getByLabel("Applies to").selectOption(`site:${site}`);
  await page.getByTestId("policy-state").filter({ hasText: `Set: version ${v}` }).waitFor();
  expect(await box("on-request").isChecked()).toBe(true);
  expect(await box("edge-only").isChecked()).toBe(false);
  expect(await form.getByLabel("Monthly budget (GB)").inputValue()).toBe("5");
  await page.close();
}, 180_000);

test("7+8. Playback (edge web client) continues across a gap saying why, steps by the stream's real frame time, and the timeline works from the keyboard; words not tokens", async () => {
  const e = web.demo.info.edges[0]!;
  const etok = (await json<{ token: string }>(e.url + "/api/v1/login", { method: "POST", body: JSON.stringify({ user: e.user, password: e.password }) })).token;
  const edgeTimeline = async (from: number, to: number) => {
    const res = await fetch(`${e.url}/api/v1/cameras/cam1/timeline?from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}&stream=main`, { tls: { ca: web.ca }, headers: { authorization: `Bearer ${etok}` } });
    return (await res.json()) as { ranges: Range[]; gaps: { start: string; end: string; reason: string }[] };
  };
  // a gap: the camera (camsim) stops for a few seconds, after ≥ 8 s recorded
  await until("8 s recorded at the edge", async () => {
    const now = Date.now();
    const t = await edgeTimeline(now - 600_000, now + 60_000);
    return t.ranges.some((r) => Date.parse(r.end) - Date.parse(r.start) >= 8000);
  }, 90_000, 500);
  const stop = await fetch(`${web.demo.info.camsim.controlUrl}/cameras/${web.demo.info.cameras[0]!.id}/stop`, { method: "POST" });
  expect(stop.ok).toBe(true);
  await Bun.sleep(6000);
  expect((await fetch(`${web.demo.info.camsim.controlUrl}/cameras/${web.demo.info.cameras[0]!.id}/start`, { method: "POST" })).ok).toBe(true);
  const { before, after, gap } = await until(
    "a gap with its reason between two recordings, and ≥ 6 s after it",
    async () => {
      const now = Date.now();
      const t = await edgeTimeline(now - 600_000, now + 60_000);
      const rs = t.ranges.map((r) => ({ s: Date.parse(r.start), e: Date.parse(r.end) }));
      for (let i = 1; i < rs.length; i++) {
        const g = t.gaps.find((x) => Date.parse(x.start) < rs[i]!.s && Date.parse(x.end) > rs[i - 1]!.e);
        if (rs[i]!.s - rs[i - 1]!.e >= 3000 && rs[i]!.e - rs[i]!.s >= 6000 && rs[i - 1]!.e - rs[i - 1]!.s >= 8000 && g) return { before: rs[i - 1]!, after: rs[i]!, gap: g };
      }
      return null;
    },
    90_000,
    500,
  );
  expect(gap.reason).not.toBe("");

  const page = await web.browser.newPage({ viewport: { width: 1440, height: 900 } });
  await signIn(page, e.url + "/live", e.user, e.password);
  await page.goto(`${e.url}/playback?camera=cam1`);
  const tl = page.locator(".timeline");
  await until("timeline ranges", async () => Number(await tl.getAttribute("data-ranges")) > 1, 30_000, 200);
  await page.getByRole("button", { name: "1 min" }).click();
  await until("the gap in the zoomed view", async () => Number(await tl.getAttribute("data-from")) < before.e - 3000 && Number(await tl.getAttribute("data-to")) > after.s + 2000, 10_000, 200);

  // 7: keyboard — the point walks into the gap (its tooltip says why, in words), Shift+arrows select, Enter plays
  const canvas = page.locator(".timeline canvas");
  await canvas.focus();
  await page.keyboard.press("ArrowRight");
  const from = Number(await tl.getAttribute("data-from"));
  const to = Number(await tl.getAttribute("data-to"));
  const step = (to - from) / 50;
  const walk = async (target: number) => {
    const now = Number(await canvas.getAttribute("aria-valuenow"));
    const n = Math.round((target - now) / step);
    for (let i = 0; i < Math.abs(n); i++) await page.keyboard.press(n > 0 ? "ArrowRight" : "ArrowLeft");
  };
  await walk((before.e + after.s) / 2);
  const tip = page.getByTestId("timeline-tip");
  const tipText = (await tip.textContent()) ?? "";
  expect(tipText).toContain("no recording");
  expect(tipText).not.toContain(gap.reason.split(":")[0]!);
  await shot(page, "op-08-gap-in-words");
  // Shift+arrows select a range ending 4 s before the gap; Esc clears it
  await walk(before.e - 4000);
  for (let i = 0; i < 3; i++) await page.keyboard.press("Shift+ArrowLeft");
  await page.getByText(/^Selected/).waitFor();
  expect(await page.getByRole("button", { name: "Export MP4" }).count()).toBe(1);
  await page.keyboard.press("Escape");
  expect(await page.getByText("No range selected.").count()).toBe(1);

  // Enter plays from the point (≈ 4 s before the end of the first recording)
  await page.keyboard.press("Enter");
  const video = page.getByTestId("playback-video");
  await video.waitFor({ timeout: 20_000 });
  await until("playback to advance", async () => video.evaluate((v) => (v as HTMLVideoElement).currentTime > 0.5), 20_000, 200);

  // frame steps use the measured frame time (10 fps → 100 ms), not 1/15 s
  await until("frame time measured", async () => Number(await video.getAttribute("data-frame-ms")) === 1000 / FPS, 10_000, 100);
  await page.getByRole("button", { name: "Pause" }).click();
  const t0 = await video.evaluate((v) => (v as HTMLVideoElement).currentTime);
  await page.getByRole("button", { name: "Next frame" }).click();
  const t1 = await video.evaluate((v) => (v as HTMLVideoElement).currentTime);
  expect(t1 - t0).toBeCloseTo(1 / FPS, 2);
  await page.getByRole("button", { name: "Previous frame" }).click();
  expect(await video.evaluate((v) => (v as HTMLVideoElement).currentTime)).toBeCloseTo(t0, 2);

  // play on: at the end of the first recording it continues after the gap and says what it skipped
  await page.getByRole("button", { name: "Play" }).click();
  const flow = page.getByTestId("playback-flow");
  await flow.filter({ hasText: "Skipped" }).waitFor({ timeout: 30_000 });
  await until("the play head past the gap", async () => (await video.evaluate((v) => !(v as HTMLVideoElement).paused)) && (await video.evaluate((v) => (v as HTMLVideoElement).currentTime > 0.3)), 30_000, 200);
  const src = (await video.getAttribute("src")) ?? "";
  expect(Date.parse(new URL(src, e.url).searchParams.get("from") ?? "")).toBeGreaterThanOrEqual(after.s - 1500);
  const flowText = (await flow.textContent()) ?? "";
  expect(flowText).not.toMatch(/camera-offline|stall|stopped\b/);
  await shot(page, "op-07-playback-skipped-gap");
  await page.close();
}, 240_000);

test("8. Words: an online site's tooltip has no 'last seen'; a user without admin or export rights sees no Admin, no Exports and no Export button", async () => {
  const page = await adminPage("/live");
  const row = page.locator(`li.site[data-site="bus-101"] .site-row`);
  await row.waitFor();
  expect(await row.getAttribute("title")).toBe("bus-101 — online");
  await page.close();

  // a viewer: view-live + playback on everything, nothing else
  await json(`${central}/api/v1/roles/op-viewer`, { method: "PUT", body: JSON.stringify({ grants: [{ rights: ["view-live", "playback"], scope: "*" }] }) });
  await json(`${central}/api/v1/users`, { method: "POST", body: JSON.stringify({ name: "viewer1", password: "viewer-password-1", roles: ["op-viewer"] }) });
  const v = await web.browser.newPage({ viewport: { width: 1440, height: 900 } });
  await signIn(v, central + "/live", "viewer1", "viewer-password-1");
  expect(await v.getByRole("link", { name: "Admin" }).count()).toBe(0);
  expect(await v.getByRole("link", { name: "Exports" }).count()).toBe(0);
  await v.goto(`${central}/playback?camera=${encodeURIComponent(cam)}`);
  const canvas = v.locator(".timeline canvas");
  await until("timeline ranges", async () => Number(await v.locator(".timeline").getAttribute("data-ranges")) > 0, 60_000, 200);
  await canvas.focus();
  await v.keyboard.press("End");
  for (let i = 0; i < 5; i++) await v.keyboard.press("Shift+ArrowLeft");
  await v.getByText(/^Selected/).waitFor();
  expect(await v.getByRole("button", { name: /Export/ }).count()).toBe(0);
  expect(await v.getByRole("button", { name: /Evidence lock/ }).count()).toBe(0);
  expect(await v.getByRole("button", { name: "Retrieve this range" }).count()).toBe(0);
  // issue 14: no Retrievals panel without the retrieve right (the admin, who has it, sees it in test 3)
  expect(await v.getByRole("heading", { name: "Retrievals" }).count()).toBe(0);
  await shot(v, "op-08-viewer-controls");
  await shot(v, "op-14-no-retrievals-panel-without-retrieve-right");
  await v.close();
}, 180_000);

test("3. Revoking a site keeps its cameras in the tree (marked revoked) and what central holds playable and exportable", async () => {
  // central holds a range of bus-101 (a retrieval at request priority), then the site is revoked
  const edgeRange = await until("a 10 s range in central's timeline", async () => {
    const now = Date.now();
    const t = await timeline(cam, now - 600_000, now + 60_000).catch(() => null);
    return t?.ranges.map((r) => ({ s: Date.parse(r.start), e: Date.parse(r.end) })).find((r) => r.e - r.s >= 10_000);
  }, 90_000, 1000);
  const job = await json<{ id: string }>(`${central}/api/v1/retrievals`, { method: "POST", body: JSON.stringify({ cameraId: cam, from: new Date(edgeRange.s + 1000).toISOString(), to: new Date(edgeRange.s + 9000).toISOString(), priority: "request" }) });
  await until("the retrieval to be done", async () => (await json<{ state: string }>(`${central}/api/v1/retrievals/${job.id}`)).state === "done", 120_000, 1000);
  const res = await fetch(`${central}/api/v1/sites/${site}?reason=${encodeURIComponent("vehicle stolen")}`, { method: "DELETE", tls: { ca: web.ca }, headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  // the API still lists the camera, marked; the timeline offers only central's copy
  const cams = await json<{ cameras: { id: string; revoked: boolean; online: boolean }[] }>(`${central}/api/v1/cameras`);
  expect(cams.cameras.find((c) => c.id === cam)).toMatchObject({ revoked: true, online: false });
  const now = Date.now();
  const t = await timeline(cam, now - 600_000, now + 60_000);
  expect(t.siteRevoked).toBe(true);
  const held = t.ranges.map((r) => ({ s: Date.parse(r.start), e: Date.parse(r.end), held: r.held })).filter((r) => r.e - r.s >= 6000);
  expect(held.length).toBeGreaterThan(0);
  for (const r of t.ranges) expect(r.held).toBe("central");

  const page = await adminPage(`/playback?camera=${encodeURIComponent(cam)}`);
  const row = page.locator(`[data-camera="${cam}"]`);
  await row.waitFor();
  expect(await row.getAttribute("data-revoked")).toBe("true");
  expect(await row.textContent()).toContain("revoked");
  // the camera keeps its name in the tree (readable, not squeezed out), the sentence is in its tooltip
  expect((await row.locator(".name").boundingBox())!.width).toBeGreaterThan(60);
  expect(await row.getAttribute("title")).toContain("site revoked — recordings at central stay playable");
  await page.getByText("This camera's site is revoked").waitFor();
  // 8: the header names the site, not its id
  expect(await page.locator(".playback .toolbar").textContent()).toContain("bus-101");
  expect(await page.locator(".playback .toolbar").textContent()).not.toContain(site);
  const tl = page.locator(".timeline");
  await until("timeline ranges", async () => Number(await tl.getAttribute("data-ranges")) > 0, 60_000, 200);
  // play the last recording held at central
  const canvas = page.locator(".timeline canvas");
  await canvas.focus();
  await page.keyboard.press("End");
  for (let i = 0; i < 6; i++) await page.keyboard.press("+"); // zoom to 1 minute around the point: an arrow moves 1.2 s
  expect(Number(await tl.getAttribute("data-to")) - Number(await tl.getAttribute("data-from"))).toBeLessThanOrEqual(61_000);
  for (let i = 0; i < 3; i++) await page.keyboard.press("ArrowLeft");
  await page.keyboard.press("Enter");
  const video = page.getByTestId("playback-video");
  await video.waitFor({ timeout: 20_000 });
  await until("playback of a revoked site's camera to advance", async () => video.evaluate((v) => (v as HTMLVideoElement).currentTime > 0.5), 20_000, 200);
  // export a few seconds of it: the evidence package downloads
  await canvas.focus();
  await page.keyboard.press("End");
  await page.keyboard.press("ArrowLeft");
  for (let i = 0; i < 3; i++) await page.keyboard.press("Shift+ArrowLeft");
  await page.getByText(/^Selected/).waitFor();
  expect(await page.getByRole("button", { name: "Retrieve this range" }).count()).toBe(0);
  // issue 14: central refuses a new evidence lock for a revoked site, so the screen does not offer one
  // (the admin has the right: Export is offered beside where the lock would be, and Retrievals shows)
  const sel = { cameraId: cam, from: new Date(now - 120_000).toISOString(), to: new Date(now - 60_000).toISOString(), reason: "case 14" };
  const lock = await fetch(`${central}/api/v1/evidence-locks`, { method: "POST", tls: { ca: web.ca }, headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify(sel) });
  expect(lock.status).toBe(409);
  expect(((await lock.json()) as { detail: string }).detail).toContain("revoked site");
  await page.getByRole("button", { name: "Export evidence package" }).waitFor();
  await page.getByRole("heading", { name: "Retrievals" }).waitFor();
  expect(await page.getByRole("button", { name: /Evidence lock/ }).count()).toBe(0);
  await shot(page, "op-14-revoked-site-no-evidence-lock");
  const [dl] = await Promise.all([
    page.waitForEvent("download", { timeout: 90_000 }).catch(async (e) => {
      await shot(page, "op-03-export-failed");
      throw e;
    }),
    page.getByRole("button", { name: "Export evidence package" }).click(),
  ]);
  const file = path.join(web.dir, "revoked-export.zip");
  await dl.saveAs(file);
  const zip = new Uint8Array(await Bun.file(file).arrayBuffer());
  expect(zip.length).toBeGreaterThan(10_000);
  expect(String.fromCharCode(zip[0]!, zip[1]!)).toBe("PK");
  await page.getByText(/Evidence package saved as/).waitFor();
  await shot(page, "op-03-revoked-site-playback-export");
  await page.close();
}, 180_000);
