/**
 * Transfer engine, system tests (real central and edge processes, real fMP4 recording, real
 * mTLS; link emulators between them). One edge with eight cameras covers the eight recording
 * options in one scripted scenario (events, a request, a link outage, a switch to WiFi); a
 * second site checks evidence locks under edge retention pressure; a third checks priorities
 * and budgets on a capped cellular link.
 */
import "reflect-metadata";
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { makeMedia } from "../lib/store/testdata/media.ts";
import { until } from "./lib/cp.ts";
import { centralSegments, enrollSite, kill, links, spawnCentral, spawnEdge, type CentralProc, type EdgeDump, type EdgeProc } from "./lib/transfer-harness.ts";
import type { LinkEmulator } from "../federation/transfer/testkit.ts";

setDefaultTimeout(420_000); // generous: the waits below are on conditions, and a loaded machine is slow

let root: string;
let src: string;
let c: CentralProc;
const edges: EdgeProc[] = [];
const emus: LinkEmulator[] = [];

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "outpost-transfer-"));
  await makeMedia(root, 4);
  src = path.join(root, "src.mp4");
  c = await spawnCentral(path.join(root, "central"), { settleMs: 10_000 });
});

afterAll(async () => {
  for (const e of edges) await kill(e);
  for (const l of emus) await l.close();
  await kill(c as never, 15);
  await rm(root, { recursive: true, force: true });
});

async function site(name: string, policy: unknown, cameras: string[], link = "cellular", retentionMs?: number, workers?: number) {
  const dir = path.join(root, name);
  const id = await enrollSite(c, name, dir);
  const put = await c.api("PUT", `/api/v1/sites/${id}/policy`, policy);
  expect(put.status).toBe(200);
  const l = await links(c);
  emus.push(l.mqtt, l.fed);
  const e = await spawnEdge({ dir, mqttPort: l.mqtt.port, fedPort: l.fed.port, src, cameras, link, retentionMs, workers });
  edges.push(e);
  return { id, e, l };
}

/**
 * Closed segments of a camera, from the segment files in the edge's store (the last file is the
 * open one): cheap to poll, unlike `dump`, which syncs the index with central on every call.
 */
async function closedSegments(siteName: string, cam: string): Promise<number> {
  const dir = path.join(root, siteName, "store", "media", cam, "main");
  let n = 0;
  for (const day of await readdir(dir).catch(() => [] as string[])) n += (await readdir(path.join(dir, day)).catch(() => [] as string[])).filter((f) => f.endsWith(".mp4")).length;
  return Math.max(0, n - 1);
}

/** Where a camera's closed segments end: the start of its newest (open) segment file. */
async function recordedUntil(siteName: string, cam: string): Promise<number> {
  const dir = path.join(root, siteName, "store", "media", cam, "main");
  const starts: number[] = [];
  for (const day of await readdir(dir).catch(() => [] as string[])) for (const f of await readdir(path.join(dir, day)).catch(() => [] as string[])) if (/^\d+\.mp4$/.test(f)) starts.push(Number(f.slice(0, -4)));
  return Math.max(...starts);
}

const overlapping = (segs: EdgeDump["cams"][string], from: number, to: number) => segs.filter((s) => s.startMs < to && s.endMs > from);

let lastDiff = "";
async function sameAtCentral(siteId: string, cam: string, want: EdgeDump["cams"][string]): Promise<boolean> {
  const got = await centralSegments(c, `${siteId}.${cam}`);
  const byStart = new Map(got.map((g) => [g.startMs, g]));
  const ok = got.length === want.length && want.every((w) => byStart.get(w.startMs)?.sha256 === w.sha256 && byStart.get(w.startMs)?.bytes === w.bytes);
  if (!ok) lastDiff = `${cam}: central ${got.length} [${got.map((g) => g.startMs % 100000).join(",")}] want ${want.length} [${want.map((w) => w.startMs % 100000).join(",")}]`;
  return ok;
}

describe("recording options", () => {
  test("eight options, one scripted scenario: central holds exactly what each option demands, each segment once", async () => {
    const cams = ["cnone", "cedge", "creq", "csched", "cevent", "cald", "ccentral", "cboth"];
    const policy = {
      options: ["edge-only"],
      // Scheduled bulk copies are not allowed on cellular: they wait for WiFi.
      links: { cellular: { allow: ["alarm", "request", "event", "backfill"] }, wifi: {} },
      cameras: {
        cnone: { options: ["none"] },
        cedge: { options: ["edge-only"] },
        creq: { options: ["on-request"] },
        csched: { options: ["scheduled"], schedule: { windows: [{ from: "00:00", to: "24:00" }], links: ["wifi"] } },
        cevent: { options: ["on-event"], event: { preSeconds: 2, postSeconds: 2, kinds: ["panic"] } },
        cald: { options: ["after-link-down"] },
        ccentral: { options: ["central-only"] },
        cboth: { options: ["both"] },
      },
    };
    const began = Date.now();
    const { id, e, l } = await site("fleet", policy, cams);
    // The event window (±2 s) and the request (3 s ago..1 s ago) must fall on recorded footage:
    // wait for ≥ 4 closed segments of every camera (a loaded machine starts the edge late).
    await until("every camera recorded 4 s", async () => (await Promise.all(cams.map((cam) => closedSegments("fleet", cam)))).every((n) => n >= 4), 60_000, 250);
    const ev = Number((await e.send("event cevent panic")).find((x) => x.startsWith("EVENT "))!.slice(6));
    await e.send("event cevent motion"); // not a matching kind: no retrieval
    // The request's window ends where creq's recording has closed segments: taken from the wall
    // clock ("1 s ago") it can lie beyond what a loaded edge has recorded, and the retrieval then
    // settles empty once settleMs passes before the edge's index reaches it (seen on the database index at load 40).
    const reqTo = Math.min(Date.now() - 1000, await recordedUntil("fleet", "creq"));
    const reqFrom = reqTo - 2000;
    const r = await c.api<{ id: string; state: string }>("POST", "/api/v1/retrievals", { cameraId: `${id}.creq`, from: new Date(reqFrom).toISOString(), to: new Date(reqTo).toISOString(), priority: "request" });
    expect(r.status).toBe(201);
    const refused = await c.api<{ detail: string }>("POST", "/api/v1/retrievals", { cameraId: `${id}.cnone`, from: new Date(reqFrom).toISOString(), to: new Date(reqTo).toISOString() });
    expect(refused.status).toBe(409);
    expect(refused.body.detail).toContain("none");
    await Bun.sleep(2000);
    l.fed.cut();
    l.mqtt.cut();
    await Bun.sleep(5000); // outage: the edge keeps recording
    l.fed.restore();
    l.mqtt.restore();
    await Bun.sleep(3000);
    expect(await centralSegments(c, `${id}.csched`)).toEqual([]); // still on cellular
    await e.send("link wifi");
    await Bun.sleep(3000);
    // The scenario spans at least 13 s of footage. On a loaded machine the edge records slower
    // than the wall clock of the sleeps above (6 and 8 segments were seen with central on the
    // database index and the machine at load 40): wait for the footage, not for the time.
    await until("cboth recorded 13 s", async () => (await closedSegments("fleet", "cboth")) >= 13, 90_000, 250);
    await e.send("stop");
    const edge = await e.dump();
    const all = (cam: string) => edge.cams[cam]!;
    expect(all("cboth").length).toBeGreaterThan(12);
    const want: Record<string, EdgeDump["cams"][string]> = {
      cnone: [],
      cedge: [],
      creq: overlapping(all("creq"), reqFrom, reqTo),
      csched: all("csched"),
      cevent: overlapping(all("cevent"), ev - 2000, ev + 2000),
      cald: all("cald"),
      ccentral: all("ccentral"),
      cboth: all("cboth"),
    };
    await until("central holds what each option demands", async () => {
      for (const cam of cams) if (!(await sameAtCentral(id, cam, want[cam]!))) return false;
      return true;
    }, 180_000, 500).catch(async (err) => {
      throw new Error(`${(err as Error).message}; ${lastDiff}; ${JSON.stringify((await c.api("GET", `/api/v1/sites/${id}/transfer`)).body)}`);
    });
    const tr = await c.api<{ commits: number; receiver: { commits: number; alreadyHad: number } }>("GET", `/api/v1/sites/${id}/transfer`);
    const total = Object.values(want).reduce((a, w) => a + w.length, 0);
    expect(tr.body.commits).toBe(total); // one commit per segment, never two
    expect(tr.body.receiver.alreadyHad).toBe(0);
    const ret = await until("retrieval done", async () => {
      const x = await c.api<{ state: string; progress: number; bytesDone: number; bytesTotal: number }>("GET", `/api/v1/retrievals/${r.body.id}`);
      return x.body.state === "done" ? x.body : false;
    }, 60_000);
    expect(ret.progress).toBe(100);
    expect(ret.bytesDone).toBe(ret.bytesTotal);
    const list = await c.api<{ retrievals: { id: string; priority: string }[] }>("GET", `/api/v1/retrievals?cameraId=${id}.cevent`);
    expect(list.body.retrievals.map((x) => x.priority)).toEqual(["event"]);
    // merged timeline: both for a continuous camera, edge only for edge-only
    const tl = async (cam: string) =>
      (await c.api<{ ranges: { held: string }[] }>("GET", `/api/v1/cameras/${id}.${cam}/timeline?from=${new Date(began - 60_000).toISOString()}&to=${new Date().toISOString()}`)).body.ranges.map((x) => x.held);
    expect(new Set(await tl("cboth"))).toEqual(new Set(["both"]));
    expect(new Set(await tl("cedge"))).toEqual(new Set(["edge"]));
    // playback at central of an edge-only range: fetched on demand (request priority), then served
    const seg = all("cedge")[3]!;
    const v = await fetch(`${c.apiUrl}/api/v1/cameras/${id}.cedge/video?from=${new Date(seg.startMs).toISOString()}&to=${new Date(seg.endMs).toISOString()}&wait=60`, { headers: { authorization: `Bearer ${c.token}` } });
    expect(v.status).toBe(200);
    expect(v.headers.get("x-outpost-retrieval")).toMatch(/^pb-/);
    expect((await v.arrayBuffer()).byteLength).toBeGreaterThan(1000);
  });
});

describe("evidence locks across sites", () => {
  test("a central lock protects an edge range from retention until it is at central, then the edge releases it", async () => {
    const { id, e, l } = await site("depot", { options: ["on-request"] }, ["cam1"]);
    await until("cam1 recorded 4 s", async () => (await closedSegments("depot", "cam1")) >= 4, 60_000, 250);
    l.fed.cut(); // transfers cannot run; control messages still can
    const to = Date.now() - 1000;
    const from = to - 2000;
    const lock = await c.api<{ id: string }>("POST", "/api/v1/evidence-locks", { cameraId: `${id}.cam1`, from: new Date(from).toISOString(), to: new Date(to).toISOString(), reason: "incident 42" });
    expect(lock.status).toBe(201);
    await until("lock at the edge", async () => (await e.dump()).locks.some((x) => x.id === lock.body.id));
    await Bun.sleep(2000);
    const before = (await e.dump()).cams.cam1!;
    const locked = overlapping(before, from, to);
    expect(locked.length).toBeGreaterThan(0);
    const ret = await e.send("retention cam1 1"); // retention pressure: keep 1 byte
    expect(Number(ret.find((x) => x.startsWith("RETENTION "))!.slice(10))).toBeGreaterThan(0);
    const after = (await e.dump()).cams.cam1!;
    for (const s of locked) expect(after.some((a) => a.startMs === s.startMs && a.sha256 === s.sha256)).toBe(true);
    expect(after.length).toBeLessThan(before.length);
    const view = await c.api<{ heldAtEdge: boolean; atCentral: boolean }>("GET", `/api/v1/evidence-locks/${lock.body.id}`);
    expect(view.body.atCentral).toBe(false);
    l.fed.restore();
    await until("locked range at central", () => sameAtCentral(id, "cam1", locked), 30_000, 300);
    await until("edge released its lock", async () => !(await e.dump()).locks.some((x) => x.id === lock.body.id), 30_000, 300);
    const done = await c.api<{ atCentral: boolean; endedAt: string | null }>("GET", `/api/v1/evidence-locks/${lock.body.id}`);
    expect(done.body.atCentral).toBe(true);
    expect(done.body.endedAt).toBeNull(); // still locked at central
  });
});

describe("priorities and budgets", () => {
  test("a user request on capped cellular overtakes scheduled backfill; a byte budget holds; WiFi continues", async () => {
    const policy = { options: ["scheduled", "on-request"], schedule: { from: "00:00", to: "24:00" }, links: { cellular: { rateBitsPerSecond: 250_000 }, wifi: {} } };
    const { id, e } = await site("bus9", policy, ["camA", "camB"], "cellular", undefined, 1); // one worker: always busy
    // 2 cameras at ~1.4 Mbit/s each vs a 250 kbit/s cap: a scheduled backlog builds, and one
    // segment copy lasts several chunks (seconds), so a request reaches the edge mid-copy. Wait for
    // it (and for the requested window to be recorded) rather than for a fixed time.
    const scheduledAtCentral = async () => (await c.api<{ queue: { byClass: Record<string, { items: number }> } }>("GET", `/api/v1/sites/${id}/transfer`)).body.queue.byClass.scheduled?.items ?? 0;
    await until("a scheduled backlog of 6 segments", async () => (await scheduledAtCentral()) >= 6 && (await closedSegments("bus9", "camB")) >= 4, 90_000, 250);
    // Pre-emption needs its precondition: the one worker busy with a scheduled copy and more
    // scheduled work queued behind it (between two work answers the queue can run dry and the
    // worker wait idle; a request arriving then is simply taken next, with nothing to pre-empt).
    await until("the worker busy with a scheduled copy, more queued", async () => {
      const t = (await e.dump()).transfer as { queued: number; running?: { cls: string; offset: number; bytes: number }[] };
      // A copy with most of it still to send: the request then arrives while it runs.
      return (t.running ?? []).some((r) => r.cls === "scheduled" && r.offset < r.bytes / 2) && t.queued >= 2;
    }, 60_000, 100);
    // A window the edge has recorded (see recordedUntil): one beyond it is not in the edge's index
    // yet, so nothing of it can be queued while the scheduled copy runs. (Necessary, not enough:
    // at load 30+ this case still saw "preempted 0" now and then, with either store index.)
    const to = Math.min(Date.now() - 2000, await recordedUntil("bus9", "camB"));
    const from = to - 2000;
    const r = await c.api<{ id: string }>("POST", "/api/v1/retrievals", { cameraId: `${id}.camB`, from: new Date(from).toISOString(), to: new Date(to).toISOString(), priority: "request" });
    expect(r.status).toBe(201);
    await until("request done", async () => (await c.api<{ state: string }>("GET", `/api/v1/retrievals/${r.body.id}`)).body.state === "done", 90_000, 200);
    expect(await scheduledAtCentral()).toBeGreaterThan(3); // backfill still waiting
    expect((await e.dump()).transfer.stats.preempted).toBeGreaterThan(0); // the worker was busy with a scheduled copy

    // Budget: allow 600 kB more on cellular this month.
    const used = (await e.dump()).transfer.usage.byLink.cellular ?? 0;
    const budget = used + 600_000;
    const put = await c.api("PUT", `/api/v1/sites/${id}/policy`, { ...policy, links: { cellular: { rateBitsPerSecond: 250_000, monthlyBytes: budget }, wifi: {} } });
    expect(put.status).toBe(200);
    await until("budget reached", async () => (await e.dump()).transfer.budgetBlocked, 90_000, 300);
    await Bun.sleep(2000);
    const d = await e.dump();
    expect(d.transfer.usage.byLink.cellular!).toBeLessThanOrEqual(budget);
    const view = await c.api<{ links: { link: string; receivedBytes: number; monthlyBytes: number | null; remainingBytes: number | null }[] }>("GET", `/api/v1/sites/${id}/transfer`);
    const cell = view.body.links.find((x) => x.link === "cellular")!;
    expect(cell.monthlyBytes).toBe(budget);
    expect(cell.receivedBytes).toBeLessThanOrEqual(budget);
    // WiFi has no budget: the backlog drains.
    await e.send("link wifi");
    await e.send("stop");
    const edge = await e.dump();
    await until("everything at central over wifi", async () => (await sameAtCentral(id, "camA", edge.cams.camA!)) && (await sameAtCentral(id, "camB", edge.cams.camB!)), 180_000, 500);
    expect((await e.dump()).transfer.usage.byLink.cellular!).toBeLessThanOrEqual(budget);
  });
});

describe("overwrite deadlines", () => {
  test("jobs the edge will overwrite first move up; footage that cannot make it raises footage.at-risk; what is lost is reported", async () => {
    // 10 kB/s cellular vs ~180 kB/s recorded, and the edge keeps only 12 s: most of it cannot make it.
    const { id } = await site("tram", { options: ["both"], links: { cellular: { rateBitsPerSecond: 80_000 } } }, ["cam1"], "cellular", 12_000);
    await until("digest with the retention horizon, and items at risk", async () => {
      const v = await c.api<{ queue: { atRisk: number; byClass: Record<string, { items: number }> } }>("GET", `/api/v1/sites/${id}/transfer`);
      return v.body.queue.atRisk > 0 && (v.body.queue.byClass.request?.items ?? 0) > 0;
    }, 40_000, 500);
    const ev = await until("footage.at-risk events", async () => {
      const r = await c.api<{ events: { type: string; siteId: string; data: { state: string } }[] }>("GET", `/api/v1/events?type=footage.at-risk&site=${id}`);
      const evs = r.body.events.filter((x) => x.siteId === id);
      return evs.some((x) => x.data.state === "lost") && evs.some((x) => x.data.state === "will-be-lost") ? evs : false;
    }, 60_000, 500);
    expect(ev.length).toBeGreaterThan(1);
    const v = await c.api<{ lost: number }>("GET", `/api/v1/sites/${id}/transfer`);
    expect(v.body.lost).toBeGreaterThan(0);
  });
});

describe("bad input", () => {
  test("policies, retrievals and locks with bad input get a clear 4xx", async () => {
    const sites = await c.api<{ sites: { id: string }[] }>("GET", "/api/v1/sites");
    const sid = sites.body.sites[0]!.id;
    const bad = await c.api<{ detail: string }>("PUT", `/api/v1/sites/${sid}/policy`, { options: ["both", "on-event"] });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toContain("cannot be combined");
    expect((await c.api("PUT", `/api/v1/sites/${sid}/policy`, { options: ["scheduled"] })).status).toBe(400);
    expect((await c.api("PUT", `/api/v1/sites/${sid}/policy`, { options: ["on-request"], timeZone: "Mars/Olympus" })).status).toBe(400);
    expect((await c.api("PUT", `/api/v1/sites/nosuch/policy`, { options: ["on-request"] })).status).toBe(404);
    expect((await c.api("POST", "/api/v1/retrievals", { cameraId: "nosuch.cam", from: "2026-01-01T00:00:00Z", to: "2026-01-01T00:01:00Z" })).status).toBe(404);
    expect((await c.api("POST", "/api/v1/retrievals", { cameraId: `${sid}.creq`, from: "2026-01-01T00:01:00Z", to: "2026-01-01T00:00:00Z" })).status).toBe(400);
    expect((await c.api("POST", "/api/v1/retrievals", { cameraId: `${sid}.creq`, from: "yesterday", to: "2026-01-01T00:00:00Z" })).status).toBe(400);
    expect((await c.api("GET", "/api/v1/retrievals/nosuch")).status).toBe(404);
    expect((await c.api("DELETE", "/api/v1/evidence-locks/nosuch")).status).toBe(404);
  });
});
