/**
 * Web client at central, live within the link budget: a real `outpost demo` (central + 1 edge +
 * camsim) driven by Debian Chromium. The site's cellular link gets a tiny monthly budget; the
 * live tile shows central's reason when live pauses at it, and an admin's "Run live anyway"
 * override starts the picture again (audited). Own demo and temp dir.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { until } from "./helpers.ts";
import { signIn, startWebDemo, type WebDemo } from "./browser.ts";

const ART = path.join(import.meta.dir, "..", "test-artifacts", "web");
let web: WebDemo;

async function call<T>(method: string, p: string, body?: unknown): Promise<T> {
  return web.json<T>(web.central + p, { method, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
}

beforeAll(async () => {
  await mkdir(ART, { recursive: true });
  web = await startWebDemo({ name: "weblivebudget", edges: 1, camerasPerEdge: 1 });
}, 120_000);

afterAll(() => web?.stop());

test("the live tile says live paused at the site's cellular budget; an admin's override brings the picture back", async () => {
  const siteId = web.siteId;
  const cam = `${siteId}.cam1`;
  await call("POST", `/api/v1/sites/${siteId}/commands`, { name: "set-link", args: { type: "cellular" } });
  await call("PUT", `/api/v1/sites/${siteId}/policy`, { options: ["on-request"], links: { cellular: { monthlyBytes: 300_000 } } });
  await until("central sees the cellular link", async () => (await call<{ link: string | null }>("GET", `/api/v1/sites/${siteId}/live-budget`)).link === "cellular", 60_000, 500);

  const page = await web.browser.newPage({ viewport: { width: 1280, height: 800 } });
  await signIn(page, web.central + "/live", "admin", web.demo.info.central.password);
  await page.getByRole("button", { name: "2×2" }).click();
  await page.locator(`.cam-row[data-camera="${cam}"]`).focus();
  await page.keyboard.press("Enter");
  const tile = page.locator(`[data-tile]:has(video[data-camera="${cam}"])`);
  const overlay = tile.locator(".tile-overlay");
  const month = new Date().toLocaleString("en", { month: "long", timeZone: "UTC" });
  const want = `live paused: this site's cellular budget for ${month} is used up (300 kB)`;
  try {
    await until("the tile shows the budget pause", async () => ((await overlay.count()) ? (await overlay.innerText()).includes(want) : false), 90_000, 300);
  } catch (e) {
    await page.screenshot({ path: path.join(ART, "live-budget-failed.png") });
    console.log(JSON.stringify({ state: await tile.locator(".tile-state").innerText(), overlay: (await overlay.count()) ? await overlay.innerText() : null, budget: await call("GET", `/api/v1/sites/${siteId}/live-budget`), live: await call("GET", "/api/v1/live") }));
    throw e;
  }
  await page.screenshot({ path: path.join(ART, "live-budget-paused.png") });

  await tile.getByRole("button", { name: "Run live anyway (24 h)" }).click();
  await page.getByText("Live may run past the budget for 24 h").waitFor();
  await until("the tile plays LIVE again", async () => (await tile.locator(".tile-state").innerText()).startsWith("LIVE"), 60_000, 300);
  await page.screenshot({ path: path.join(ART, "live-budget-override.png") });
  const audit = await call<{ records: { user: string; subject: string | null; siteId: string | null }[] }>("GET", "/api/v1/audit?action=config");
  expect(audit.records.some((r) => r.subject === "site.live-override" && r.user === "admin" && r.siteId === siteId)).toBe(true);
  await page.close();
}, 240_000);
