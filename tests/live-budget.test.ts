/**
 * Live within the link budget (system test: real central and edge processes, live relay over
 * mTLS, a real WebSocket viewer). The site's cellular link has a 2 MB monthly budget; live
 * counts against it, stops at it with a reason the viewer's tile shows, is refused at start
 * while the budget is spent, and runs again after an admin's (audited) override.
 */
import "reflect-metadata";
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { makeMedia } from "../lib/store/testdata/media.ts";
import { TestViewer } from "../central/live/viewer.ts";
import { until } from "./lib/cp.ts";
import { enrollSite, kill, links, spawnCentral, spawnEdge, type CentralProc, type EdgeProc } from "./lib/transfer-harness.ts";
import type { LinkEmulator } from "../federation/transfer/testkit.ts";

setDefaultTimeout(180_000);
const BUDGET = 2_000_000;
const MONTH = new Date().toLocaleString("en", { month: "long", timeZone: "UTC" });
let root: string;
let c: CentralProc;
let e: EdgeProc | null = null;
const emus: LinkEmulator[] = [];
const viewers: TestViewer[] = [];

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "outpost-live-budget-"));
  await makeMedia(root, 4);
  c = await spawnCentral(path.join(root, "central"), { live: true, liveLeaseMs: 6000 });
});
afterAll(async () => {
  for (const v of viewers) v.close();
  await kill(e);
  for (const l of emus) await l.close();
  await kill(c as never, 15);
  await rm(root, { recursive: true, force: true });
});

const paused = (v: TestViewer) => v.texts.filter((t) => t.type === "nosignal").map((t) => String(t.detail ?? t.reason));

test("live stops at the site's cellular budget with the reason, is refused at start, and resumes after an audited override", async () => {
  const dir = path.join(root, "bus");
  const siteId = await enrollSite(c, "bus", dir);
  expect((await c.api("PUT", `/api/v1/sites/${siteId}/policy`, { options: ["on-request"], links: { cellular: { monthlyBytes: BUDGET } } })).status).toBe(200);
  const { mqtt, fed } = await links(c);
  emus.push(mqtt, fed);
  e = await spawnEdge({ dir, mqttPort: mqtt.port, fedPort: fed.port, src: path.join(root, "src.mp4"), cameras: ["cam1"], link: "cellular", live: true });
  await until("the edge reports its link", async () => (await c.api<{ link: string | null }>("GET", `/api/v1/sites/${siteId}/live-budget`)).body.link === "cellular", 30_000, 300);

  // A viewer of a camera central has not yet heard of is refused (404): wait for the edge's tree.
  await until("central lists the camera", async () => (await c.api<{ cameras: { id: string }[] }>("GET", "/api/v1/cameras")).body.cameras.some((x) => x.id === `${siteId}.cam1`), 30_000, 300);
  const url = `${c.apiUrl.replace(/^http/, "ws")}/api/v1/cameras/${siteId}.cam1/live?stream=main`;
  const v1 = new TestViewer(url, c.token);
  viewers.push(v1);
  await until("live plays", () => v1.fragments > 3, 60_000, 200);
  const want = `live paused: this site's cellular budget for ${MONTH} is used up (2 MB)`;
  await until("live pauses at the budget", () => paused(v1).includes(want), 90_000, 200);
  const b = (await c.api<{ paused: string | null; liveBytes: number; monthlyBytes: number; remainingBytes: number }>("GET", `/api/v1/sites/${siteId}/live-budget`)).body;
  expect(b.paused).toBe(want);
  expect(b.monthlyBytes).toBe(BUDGET);
  expect(b.liveBytes).toBeGreaterThanOrEqual(BUDGET - 100_000);
  expect(b.remainingBytes).toBe(0);
  // The site's transfer view and a retrieval's cost count live too: nothing is left this month.
  const tv = (await c.api<{ links: { link: string; liveBytes: number; remainingBytes: number | null }[] }>("GET", `/api/v1/sites/${siteId}/transfer`)).body;
  expect(tv.links.find((l) => l.link === "cellular")).toMatchObject({ remainingBytes: 0 });
  expect(tv.links.find((l) => l.link === "cellular")!.liveBytes).toBeGreaterThanOrEqual(BUDGET - 100_000);
  // The uplink is gone and nothing more arrives (what was in flight may still land).
  await until("the uplink ends", async () => !(await c.api<{ streams: { key: string; uplinkActive: boolean }[] }>("GET", "/api/v1/live")).body.streams.find((s) => s.key === `${siteId}.cam1/main`)?.uplinkActive, 15_000, 200);
  await Bun.sleep(1500);
  const frozen = v1.fragments;
  await Bun.sleep(3000);
  expect(v1.fragments).toBe(frozen);

  // A viewer who opens the tile now is told why at once, and live is not started for it.
  const v2 = new TestViewer(url, c.token);
  viewers.push(v2);
  await until("the new viewer is told why", () => paused(v2).includes(want), 10_000, 100);
  await Bun.sleep(2000);
  expect(v2.fragments).toBe(0);

  // The override: admin-policies on the site; audited.
  expect((await c.api("POST", `/api/v1/sites/${siteId}/live-override`, { hours: -1 })).status).toBe(400);
  const o = await c.api<{ paused: string | null; override: { by: string } | null }>("POST", `/api/v1/sites/${siteId}/live-override`, { hours: 2, reason: "incident on route 7" });
  expect(o.status).toBe(201);
  expect(o.body.paused).toBeNull();
  expect(o.body.override?.by).toBe("admin");
  await until("live runs again after the override", () => v2.fragments > 3 && v1.fragments > frozen + 3, 60_000, 200);
  const audit = await c.api<{ records: { user: string; subject: string | null; siteId: string | null; detail: Record<string, unknown> }[] }>("GET", `/api/v1/audit?action=config`);
  const rec = audit.body.records.find((r) => r.subject === "site.live-override");
  expect(rec).toMatchObject({ user: "admin", siteId, detail: { hours: 2, reason: "incident on route 7" } });

  // Ending the override pauses live again (the budget is still spent).
  expect((await c.api("DELETE", `/api/v1/sites/${siteId}/live-override`)).status).toBe(200);
  const before = paused(v2).length;
  await until("live pauses again without the override", () => paused(v2).length > before && paused(v2).at(-1) === want, 15_000, 200);
});
