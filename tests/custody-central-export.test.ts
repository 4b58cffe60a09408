/**
 * Central export end to end, with a real `outpost demo` (central + 1 enrolled edge + camsim,
 * 4 s segments): the edge signs its chain with its enrollment key, the export's retrieval pulls
 * the window to central (each upload verified against its custody proof), and POST /api/v1/exports answers
 * the evidence package whose SHA-256 is in X-Outpost-SHA256; `verifyPackage` with central's
 * CA says intact and names the edge's site; the export is in the audit log. A window held only
 * at the edge first answers 202 with the retrieval the export started, and its progress.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { sha256Hex, verifyPackage } from "../federation/custody/index.ts";
import { readZip } from "../lib/zip/index.ts";
import { until } from "./helpers.ts";
import { jsonClient, startWebDemo, type WebDemo } from "./browser.ts";

let web: WebDemo;
let central: string;
let token: string;
/** Trusts what the demo prints (central's CA among it): fetch verifies the HTTPS API against it. */
const json = jsonClient(() => web.ca);

beforeAll(async () => {
  web = await startWebDemo({ name: "custody-export", browser: false, edges: 1, camerasPerEdge: 1, segmentDurationMs: 4000 });
  ({ central, token } = web);
}, 120_000);

afterAll(() => web?.stop());

test("export at central: retrieved footage becomes an evidence package that verifies intact, with its SHA-256 and an audit record", async () => {
  const siteId = web.siteId;
  const cam = `${siteId}.cam1`;
  const post = (body: unknown) => fetch(central + "/api/v1/exports", { method: "POST", tls: { ca: web.ca }, headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
  // 12 s of committed recording at the edge, seen in central's mirror.
  const toMs = await until(
    "12 s of committed recording in central's mirror",
    async () => {
      const now = Date.now();
      const t = await json<{ ranges: { start: string; end: string }[] }>(`${central}/api/v1/cameras/${encodeURIComponent(cam)}/timeline?from=${new Date(now - 600_000).toISOString()}&to=${new Date(now + 60_000).toISOString()}&stream=main`, { token }).catch(() => null);
      const r = t?.ranges.find((x) => Date.parse(x.end) - Date.parse(x.start) >= 12_000);
      return r ? Date.parse(r.end) : null;
    },
    90_000,
    500,
  );
  const fromMs = toMs - 10_000;
  const win = { cameraId: cam, from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() };
  // Held only at the edge so far: the export starts a retrieval and reports its progress.
  const early = await post(win);
  expect(early.status).toBe(202);
  const started = (await early.json()) as { retrieval: { id: string; progress: number } };
  expect(started.retrieval.id).toMatch(/^ex-/);
  const again = (await (await post(win)).json()) as { retrieval?: { id: string } };
  if (again.retrieval) expect(again.retrieval.id).toBe(started.retrieval.id); // asking again does not start another
  await until("retrieval done", async () => (await json<{ state: string }>(`${central}/api/v1/retrievals/${started.retrieval.id}`, { token })).state === "done", 90_000, 500);
  const res = await post(win);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("application/zip");
  const zip = new Uint8Array(await res.arrayBuffer());
  expect(res.headers.get("x-outpost-sha256")).toBe(sha256Hex(zip));
  const ca = await readFile(path.join(web.dir, "central", "ca", "ca.pem"), "utf8");
  const v = await verifyPackage(zip, { anchorCaPem: ca });
  expect(v.siteId).toBe(siteId);
  expect(v.segments.length).toBeGreaterThanOrEqual(2);
  expect(v.segments.map((s) => s.verdict)).toEqual(v.segments.map(() => "intact"));
  expect(v.revocations).toContain("signed by the CA");
  expect(v.footage?.matchesManifest).toBe(true);
  expect(readZip(zip).files.get("footage.mp4")!.length).toBeGreaterThan(1000);
  const audit = await json<{ records: { action: string; user: string; detail?: { sha256?: string } }[] }>(`${central}/api/v1/audit?action=export`, { token });
  expect(audit.records.some((a) => a.user === "admin" && a.detail?.sha256 === sha256Hex(zip))).toBe(true);
}, 240_000);

test("export job at central (the web client's path): an edge-only window is retrieved, then the package downloads with the SHA-256 the list shows; the download is audited", async () => {
  const siteId = web.siteId;
  const cam = `${siteId}.cam1`;
  // A window of the edge's recording central has not retrieved (the first test took an older one).
  const toMs = await until(
    "a fresh 8 s of committed recording in central's mirror",
    async () => {
      const now = Date.now();
      const t = await json<{ ranges: { start: string; end: string; held?: string }[] }>(`${central}/api/v1/cameras/${encodeURIComponent(cam)}/timeline?from=${new Date(now - 60_000).toISOString()}&to=${new Date(now + 60_000).toISOString()}&stream=main`, { token }).catch(() => null);
      const r = t?.ranges.findLast((x) => x.held !== "central" && Date.parse(x.end) - Date.parse(x.start) >= 8_000);
      return r ? Date.parse(r.end) : null;
    },
    90_000,
    500,
  );
  const win = { cameraId: cam, from: new Date(toMs - 6_000).toISOString(), to: new Date(toMs).toISOString() };
  const res = await fetch(central + "/api/v1/exports", { method: "POST", tls: { ca: web.ca }, headers: { "content-type": "application/json", authorization: `Bearer ${token}`, prefer: "respond-async" }, body: JSON.stringify(win) });
  expect(res.status).toBe(202);
  const job = (await res.json()) as { id: string; state: string };
  expect(job.id).toMatch(/^cx-/);
  type Job = { id: string; state: string; progress: number; sha256?: string; download?: string; error?: string };
  const listed = await json<{ exports: Job[] }>(`${central}/api/v1/exports`, { token });
  expect(listed.exports.some((j) => j.id === job.id)).toBe(true);
  const done = await until("the export job done", async () => {
    const j = await json<Job>(`${central}/api/v1/exports/${job.id}`, { token });
    if (j.state === "failed") throw new Error(`export failed: ${j.error}`);
    return j.state === "done" ? j : null;
  }, 120_000, 500);
  expect(done.progress).toBe(100);
  expect(done.download).toBe(`/api/v1/exports/${job.id}/file`);
  const file = await fetch(central + done.download!, { tls: { ca: web.ca }, headers: { authorization: `Bearer ${token}` } });
  expect(file.status).toBe(200);
  const zip = new Uint8Array(await file.arrayBuffer());
  expect(sha256Hex(zip)).toBe(done.sha256!);
  expect(file.headers.get("x-outpost-sha256")).toBe(done.sha256!);
  const v = await verifyPackage(zip, { anchorCaPem: await readFile(path.join(web.dir, "central", "ca", "ca.pem"), "utf8") });
  expect(v.segments.map((s) => s.verdict)).toEqual(v.segments.map(() => "intact"));
  // The download's audit record is appended as the response goes out: read until it is there (a loaded machine lags).
  const auditHas = async (action: string) => (await json<{ records: { action: string; detail?: { job?: string } }[] }>(`${central}/api/v1/audit`, { token })).records.some((a) => a.action === action && a.detail?.job === job.id);
  expect(await auditHas("export")).toBe(true);
  for (let i = 0; i < 100 && !(await auditHas("export-download")); i++) await Bun.sleep(100);
  expect(await auditHas("export-download")).toBe(true);
  // Someone else's or an unknown job is not there.
  expect((await fetch(`${central}/api/v1/exports/cx-nosuchjob`, { tls: { ca: web.ca }, headers: { authorization: `Bearer ${token}` } })).status).toBe(404);
}, 240_000);
