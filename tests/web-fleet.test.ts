/**
 * A fleet operator's day, in Debian Chromium (playwright-core): a real `outpost demo` with one
 * bus (edge + camsim camera + its own gpsd fed by gpsfake, driving the demo's loop in real time;
 * 4 s segments, a track point at least every 3 s, sent every 2 s). The map shows the bus and its track coloured by where the
 * video is; the operator draws a circle on the track, the search finds the bus with footage at
 * the edge only, "Retrieve all" brings it to central and the list says so; a result and a click
 * on the track both open playback, which plays and shows speed and heading beside the video.
 * Screenshots: test-artifacts/web-fleet-*.png.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import type { Page } from "playwright-core";
import { until } from "./helpers.ts";
import { jsonClient, signIn, startWebDemo, type WebDemo } from "./browser.ts";

const ART = path.join(import.meta.dir, "..", "test-artifacts");
const shot = (page: Page, name: string) => page.screenshot({ path: path.join(ART, `web-fleet-${name}.png`) });

let web: WebDemo;
let central: string;
let token: string;
let siteId: string;
const json = jsonClient(() => web.ca, () => token);

beforeAll(async () => {
  await mkdir(ART, { recursive: true });
  web = await startWebDemo({ name: "webfleet", edges: 1, camerasPerEdge: 1, segmentDurationMs: 4000, trackSyncMs: 2000, trackMaxIntervalMs: 3000, camera: { width: 320, height: 180, fps: 10 } });
  ({ central, token, siteId } = web);
}, 120_000);

afterAll(() => web?.stop());

/** A screen point on the drawn track (the middle of the longest run of a class), from the SVG path itself. */
const pointOnTrack = (page: Page, cls = "track-run") =>
  page.evaluate((cls) => {
    const paths = [...document.querySelectorAll<SVGPathElement>(`path.${cls}`)].sort((a, b) => b.getTotalLength() - a.getTotalLength());
    const p = paths[0];
    if (!p) return null;
    const pt = p.getPointAtLength(p.getTotalLength() / 2);
    const m = p.getScreenCTM()!;
    return { x: pt.x * m.a + pt.y * m.c + m.e, y: pt.x * m.b + pt.y * m.d + m.f };
  }, cls);

test("fleet operator's day: the bus and its track on the map, search an area, retrieve all, play with speed and heading", async () => {
  expect(web.demo.info.gps && "ports" in web.demo.info.gps).toBe(true); // gpsd + gpsfake are installed by scripts/bootstrap.sh
  // the bus has driven a while: a track at central with fixes over ≥ 15 s
  await until(
    "a driven track at central",
    async () => {
      const t = await json<{ points: { time: string; lat?: number }[] }>(`${central}/api/v1/sites/${siteId}/track?from=${new Date(Date.now() - 600_000).toISOString()}`);
      const fixes = t.points.filter((p) => p.lat !== undefined).map((p) => Date.parse(p.time));
      return fixes.length >= 3 && fixes.at(-1)! - fixes[0]! >= 15_000;
    },
    120_000,
    1000,
  );

  // the map's API: no tile URL configured (the demo), runs of one holding each; bad input is a problem naming it
  expect(await json(`${central}/api/v1/fleet/map`)).toEqual({ tileUrl: null, attribution: "" });
  const runs = await json<{ runs: { at: string; points: number[][] }[]; cameras: string[] }>(`${central}/api/v1/sites/${siteId}/track-footage?from=${new Date(Date.now() - 600_000).toISOString()}`);
  expect(runs.cameras).toEqual([`${siteId}.cam1`]);
  expect(runs.runs.some((r) => r.at === "edge" && r.points.length >= 2)).toBe(true);
  for (const [q, status, words] of [
    ["from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", 400, "from must be before to"],
    ["from=2026-01-01T00:00:00Z&to=2026-01-05T00:00:00Z", 400, "at most 2 days"],
    ["from=yesterday", 400, "'from'"],
    [`camera=${siteId}.nope`, 404, "No camera"],
  ] as const) {
    const r = await fetch(`${central}/api/v1/sites/${siteId}/track-footage?${q}`, { tls: { ca: web.ca }, headers: { authorization: `Bearer ${token}` } });
    expect(r.status).toBe(status);
    expect(r.headers.get("content-type")).toContain("problem+json");
    expect(((await r.json()) as { detail: string }).detail).toContain(words);
  }

  const page = await web.browser.newPage({ viewport: { width: 1440, height: 900 } });
  await signIn(page, central + "/live", "admin", web.demo.info.central.password);
  await page.getByRole("link", { name: "Fleet map" }).click();

  // the live position: a marker for the bus, moving, with an arrow; the background is the offline grid (no tile URL set)
  const marker = page.locator(`.leaflet-marker-icon[data-site="${siteId}"]`);
  await marker.waitFor({ timeout: 20_000 });
  await until("the bus shown as moving", async () => (await marker.getAttribute("data-state")) === "moving", 60_000, 250);
  expect(await marker.locator(".veh-arrow").count()).toBe(1);
  expect(await page.locator("canvas[data-tile]").count()).toBeGreaterThan(0);
  expect(await page.locator("img.leaflet-tile").count()).toBe(0);
  await page.getByTestId("fleet-summary").getByText("1 of 1 vehicles with a position").waitFor();

  // its track for today, coloured: footage only at the edge so far
  await page.getByRole("list", { name: "Vehicles" }).getByRole("button", { name: /bus-101/ }).click();
  await page.getByTestId("vehicle-detail").waitFor();
  // depot offload: this bus never parked on a depot link, and the detail says so
  expect(await page.getByTestId("last-offload").textContent()).toBe("No depot offload yet");
  await until("the track drawn", async () => Number(await page.getByTestId("fleet-map").getAttribute("data-track-runs")) > 0, 20_000, 250);
  await page.getByRole("button", { name: "Show the whole track" }).click();
  await Bun.sleep(500); // the zoom animation
  expect(await page.locator("path.track-run.at-edge").count()).toBeGreaterThan(0);
  expect(await page.locator("path.track-run.at-central").count()).toBe(0);
  await shot(page, "1-map-track");

  // draw a circle on the track, in the last hour: the search finds the bus, its footage at the edge only
  const on = (await pointOnTrack(page))!;
  expect(on).not.toBeNull();
  await page.getByRole("tab", { name: "Search an area" }).click();
  await page.getByRole("button", { name: "Circle" }).click();
  await page.mouse.move(on.x, on.y);
  await page.mouse.down();
  await page.mouse.move(on.x + 30, on.y, { steps: 5 });
  await page.mouse.up();
  await page.getByTestId("draw-hint").getByText(/Circle of \d+ m/).waitFor();
  const results = page.getByRole("list", { name: "Search results" }).locator("li");
  await results.first().waitFor({ timeout: 20_000 });
  expect(await results.first().textContent()).toContain("bus-101");
  const wheres = await results.evaluateAll((ls) => ls.map((l) => l.getAttribute("data-where")));
  expect(wheres.some((w) => w === "edge" || w === "mixed")).toBe(true);
  await shot(page, "2-search");

  // a polygon (four corners, double-click to close) around the same stretch finds it too
  await page.getByRole("button", { name: "Polygon" }).click();
  for (const [dx, dy] of [[-25, -25], [25, -25], [25, 25]]) await page.mouse.click(on.x + dx!, on.y + dy!);
  await page.mouse.dblclick(on.x - 25, on.y + 25);
  await page.getByTestId("draw-hint").getByText("Polygon of 4 corners.").waitFor();
  await page.getByTestId("search-count").getByText(/^\d+ results?$/).waitFor({ timeout: 20_000 });
  expect(await results.first().textContent()).toContain("bus-101");
  await shot(page, "2b-search-polygon");

  // retrieve all at priority "request": the list follows the retrievals until the footage is at central
  await page.getByLabel("Priority").selectOption("request");
  await page.getByRole("button", { name: /Retrieve all/ }).click();
  await page.getByText(/retrievals queued at priority request/).waitFor();
  await until("a result at central", async () => (await page.locator('li[data-where="central"]').count()) > 0, 120_000, 500);
  const jobs = (await json<{ retrievals: { priority: string; state: string; reason: string | null }[] }>(`${central}/api/v1/retrievals`)).retrievals;
  expect(jobs.length).toBeGreaterThan(0);
  expect(jobs.every((j) => j.priority === "request")).toBe(true);
  await shot(page, "3-retrieved");

  // a result opens playback at its start: it plays (from central) with speed and heading beside the video
  await page.locator('li[data-where="central"] button').first().click();
  await page.waitForURL(/\/playback\?camera=.*&t=.*&play=1/);
  const video = page.getByTestId("playback-video");
  await video.waitFor({ timeout: 30_000 });
  await until("playback to advance", async () => (await video.evaluate((v) => (v as HTMLVideoElement).currentTime)) > 0.5, 30_000, 250);
  await page.getByTestId("pos-speed").waitFor({ timeout: 15_000 });
  expect(await page.getByTestId("pos-speed").textContent()).toMatch(/^\d+ km\/h$/);
  expect(await page.getByTestId("pos-heading").textContent()).toMatch(/^\d+° (N|NE|E|SE|S|SW|W|NW)$/);
  expect(await page.getByTestId("pos-latlon").textContent()).toMatch(/^47\.3\d+, 8\.5\d+$/);
  await shot(page, "4-playback");

  // back on the map: the retrieved stretch is green now; a click on an edge-only stretch opens playback
  // at that moment, and central fetches that footage from the edge first
  await page.getByRole("link", { name: "Fleet map" }).click();
  await page.getByRole("list", { name: "Vehicles" }).getByRole("button", { name: /bus-101/ }).click();
  await until("the track drawn again", async () => Number(await page.getByTestId("fleet-map").getAttribute("data-track-runs")) > 0, 20_000, 250);
  await page.getByRole("button", { name: "Show the whole track" }).click();
  await Bun.sleep(500);
  expect(await page.locator("path.track-run.at-central").count()).toBeGreaterThan(0);
  await shot(page, "5-map-after-retrieval");
  const p2 = (await pointOnTrack(page, "track-run.at-edge"))!;
  expect(p2).not.toBeNull();
  await page.mouse.click(p2.x, p2.y);
  await page.waitForURL(/\/playback\?camera=.*&t=.*&play=1/);
  const t = Date.parse(new URL(page.url()).searchParams.get("t")!);
  expect(t).toBeGreaterThan(Date.now() - 3_600_000);
  await until("playback of the clicked moment to advance", async () => (await page.getByTestId("playback-video").evaluate((v) => (v as HTMLVideoElement).currentTime).catch(() => 0)) > 0.5, 60_000, 250);
  await page.getByTestId("pos-speed").waitFor({ timeout: 15_000 });
  await shot(page, "6-track-click-playback");

  // on a phone the map comes first, the panel under it
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(central + "/map");
  await page.locator(`.leaflet-marker-icon[data-site="${siteId}"]`).waitFor({ timeout: 20_000 });
  const mapBox = (await page.getByTestId("fleet-map").boundingBox())!;
  expect(mapBox.width).toBeGreaterThan(300);
  expect(mapBox.height).toBeGreaterThan(300);
  await shot(page, "7-phone");
  await page.close();
}, 300_000);
