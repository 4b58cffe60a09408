/**
 * Issue 7 end to end: rule → retrieval → clip attached to the alarm, with a real edge.
 * A real `outpost demo` (central + 1 edge + camsim, in-process, port 0, 4 s segments): an
 * external event posted after the fact (original time 10 s ago, footage already recorded at the
 * edge) fires a rule that raises an alarm and retrieves [t−6 s, t+2 s] at alarm priority; the
 * transfer engine pulls the segments from the edge and attaches the clip to the alarm. The
 * clip URL (central playback) must decode and cover the window, and central's timeline must
 * say the window is held at central.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { until } from "./helpers.ts";
import { jsonClient, startWebDemo, type WebDemo } from "./browser.ts";

let web: WebDemo;
let central: string;
let token: string;

const json = jsonClient(() => web.ca);

beforeAll(async () => {
  web = await startWebDemo({ name: "alarmclip", browser: false, edges: 1, camerasPerEdge: 1, segmentDurationMs: 4000 });
  ({ central, token } = web);
}, 120_000);

afterAll(() => web?.stop());

test("an event about already recorded footage fires a rule: alarm raised, pre/post video retrieved from the edge at alarm priority, clip attached and playable", async () => {
  const siteId = web.siteId;
  const cam = `${siteId}.cam1`;
  // Footage of the last 20 s must be committed at the edge and mirrored to central (edge-only so far).
  await until(
    "20 s of committed recording of cam1 in central's mirror",
    async () => {
      const now = Date.now();
      const t = await web.timeline(cam, now - 600_000, now + 60_000).catch(() => null);
      return t?.ranges.some((r) => Date.parse(r.start) <= now - 20_000 && Date.parse(r.end) >= now - 6_000);
    },
    90_000,
    500,
  );

  const key = (await json<{ key: string }>(central + "/api/v1/api-keys", { method: "POST", token, body: JSON.stringify({ name: "alarm-clip-test" }) })).key;
  await json(central + "/api/v1/rules/door-forced", {
    method: "PUT",
    token,
    body: JSON.stringify({
      name: "Door forced",
      match: { types: ["door.forced"], cameras: [cam] },
      actions: [
        { kind: "alarm", priority: 1, title: "Door forced open", instructions: "Check the clip." },
        { kind: "retrieve", preSeconds: 6, postSeconds: 2, priority: "alarm" },
      ],
    }),
  });
  // A rule with a bad action is refused with the field named.
  const bad = await fetch(central + "/api/v1/rules/bad-rule", { tls: { ca: web.ca }, method: "PUT", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify({ name: "x", match: { types: ["a"] }, actions: [{ kind: "retrieve", preSeconds: -1 }] }) });
  expect(bad.status).toBe(400);

  const tMs = Math.floor(Date.now() / 1000) * 1000 - 10_000;
  const fromMs = tMs - 6000;
  const toMs = tMs + 2000;
  const posted = await json<{ event: { id: string; late: boolean } }>(central + "/api/v1/events", {
    method: "POST",
    headers: { "x-api-key": key },
    body: JSON.stringify({ type: "door.forced", siteId, cameraId: cam, time: new Date(tMs).toISOString(), data: { door: "rear" } }),
  });
  // 10 s is within central's lateness threshold (lateAfterSeconds), so the event is on time;
  // what matters is that its footage was recorded before the event arrived.
  expect(posted.event.late).toBe(false);

  type Clip = { state: string; retrievalId: string | null; from: string; to: string; url: string | null; detail: string };
  type Alarm = { id: number; eventId: string; cameraId: string; late: boolean; clip: Clip | null; actions: { kind: string; state: string; detail: string }[] };
  const alarm = await until(
    "the alarm of the event",
    async () => (await json<{ alarms: Alarm[] }>(`${central}/api/v1/alarms?camera=${encodeURIComponent(cam)}`, { token })).alarms.find((a) => a.eventId === posted.event.id),
    10_000,
    200,
  );
  expect(alarm.clip).not.toBeNull();
  expect(Date.parse(alarm.clip!.from)).toBe(fromMs);
  expect(Date.parse(alarm.clip!.to)).toBe(toMs);

  // The retrieval the rule asked for: alarm priority, the event's window.
  const withRetrieval = await until("the alarm to name its retrieval", async () => {
    const a = await json<Alarm>(`${central}/api/v1/alarms/${alarm.id}`, { token });
    return a.clip?.retrievalId ? a : null;
  });
  const rid = withRetrieval.clip!.retrievalId!;
  const r = await json<{ priority: string; from: string; to: string; cameraId: string }>(`${central}/api/v1/retrievals/${rid}`, { token });
  expect(r.priority).toBe("alarm");
  expect(r.cameraId).toBe(cam);
  expect([Date.parse(r.from), Date.parse(r.to)]).toEqual([fromMs, toMs]);

  const ready = await until(
    "the clip to be attached (ready)",
    async () => {
      const a = await json<Alarm>(`${central}/api/v1/alarms/${alarm.id}`, { token });
      if (a.clip?.state === "failed" || a.clip?.state === "partial") throw new Error(`clip ${a.clip.state}: ${a.clip.detail}`);
      return a.clip?.state === "ready" && a.clip.url ? a : null;
    },
    90_000,
    500,
  );
  const done = await json<{ state: string; progress: number }>(`${central}/api/v1/retrievals/${rid}`, { token });
  expect(done.state).toBe("done");
  expect(done.progress).toBe(100);
  expect(ready.actions.find((a) => a.kind === "retrieve")?.detail).toContain(rid);

  // The clip: central playback of the window, no edge needed any more (wait=0).
  const url = new URL(ready.clip!.url!, central);
  url.searchParams.set("wait", "0");
  const res = await fetch(url, { tls: { ca: web.ca }, headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("video/mp4");
  expect(res.headers.get("x-outpost-retrieval")).toBeNull(); // nothing of the window is edge-only now
  const originMs = Date.parse(res.headers.get("x-outpost-start")!);
  const file = path.join(web.dir, "clip.mp4");
  await writeFile(file, new Uint8Array(await res.arrayBuffer()));
  const probe = Bun.spawnSync(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "format=duration:stream=codec_name,nb_read_frames", "-of", "json", file]);
  expect(probe.stderr.toString()).toBe("");
  expect(probe.exitCode).toBe(0);
  const info = JSON.parse(probe.stdout.toString()) as { format: { duration: string }; streams: { codec_name: string; nb_read_frames: string }[] };
  expect(info.streams[0]?.codec_name).toBe("h264");
  const durMs = Number(info.format.duration) * 1000;
  expect(Number(info.streams[0]?.nb_read_frames)).toBeGreaterThan(((toMs - fromMs) / 1000 - 2) * 10); // ~15 fps
  expect(originMs).toBeLessThanOrEqual(fromMs + 1000);
  expect(originMs).toBeGreaterThanOrEqual(fromMs - 1000);
  expect(originMs + durMs).toBeGreaterThanOrEqual(toMs - 1000);
  expect(originMs + durMs).toBeLessThanOrEqual(toMs + 1000);

  // Central's timeline: the window is held at central ("both" = also still at the edge).
  const tl = await web.timeline(cam, fromMs, toMs);
  expect(tl.ranges.length).toBeGreaterThan(0);
  for (const x of tl.ranges) expect(["both", "central"]).toContain(x.held);
  const covered = tl.ranges.reduce((n, x) => n + (Date.parse(x.end) - Date.parse(x.start)), 0);
  expect(covered).toBeGreaterThanOrEqual(toMs - fromMs - 1000);

  // A second event for the same moment: its retrieval finds everything at central already and
  // finishes on the engine's next tick; its alarm still gets the clip.
  const again = await json<{ event: { id: string } }>(central + "/api/v1/events", {
    method: "POST",
    headers: { "x-api-key": key },
    body: JSON.stringify({ type: "door.forced", siteId, cameraId: cam, time: new Date(tMs).toISOString(), data: { door: "front" } }),
  });
  const second = await until(
    "the second alarm's clip to be ready",
    async () => {
      const a = (await json<{ alarms: Alarm[] }>(`${central}/api/v1/alarms?camera=${encodeURIComponent(cam)}`, { token })).alarms.find((x) => x.eventId === again.event.id);
      return a?.clip?.state === "ready" ? a : null;
    },
    20_000,
    250,
  );
  expect(second.id).not.toBe(alarm.id);
  expect(second.clip!.retrievalId).not.toBe(rid);
}, 180_000);
