import "reflect-metadata";
/**
 * The ONVIF bridge end to end with a third-party client: camsim → real edge → central
 * (CentralLive, RTSP out) → ONVIF bridge ← the `onvif` npm client, ffprobe/ffmpeg on the URIs
 * it hands out; rights faults; a central alarm through a PullPoint; WS-Discovery on loopback.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Cam } from "onvif";
import { startAccessRig, untilRecording, type LiveRig } from "../live/testkit.ts";
import { ReplaySource, clockString, startRtspOut, type RtspOut } from "../live/rtsp/index.ts";
import { RtspTestClient, basicAuth } from "../live/rtsp/testkit.ts";
import { parseSession } from "../../lib/rtsp/index.ts";
import { Logger } from "../../lib/log/index.ts";
import { probe } from "../../lib/onvif/index.ts";
import { mergeHoldings } from "../sites/index.ts";
import { startCentralOnvif, type CentralOnvif } from "./index.ts";
import { runTool } from "../../lib/testing/run-tool.ts";

let rig: LiveRig;
let rtsp: RtspOut;
let onvif: CentralOnvif;
let site: string;
let adminPw: string;
const procs: ReturnType<typeof Bun.spawn>[] = [];
const retrievals: { id: string; fromMs: number; toMs: number }[] = [];

const run = (cmd: string[], timeoutMs = 40_000) => runTool(cmd, { timeoutMs, procs });

/** A connected onvif client for this site's device. */
async function connect(user: string, password: string): Promise<Cam> {
  const u = new URL(onvif.deviceUrl(site));
  return await new Promise<Cam>((resolve, reject) => {
    const cam: Cam = new Cam({ hostname: u.hostname, port: Number(u.port), path: u.pathname, username: user, password, autoconnect: false, timeout: 20_000 });
    cam.connect((err: Error | null) => (err ? reject(err) : resolve(cam)));
  });
}

const call = <T,>(cam: Cam, fn: string, ...args: unknown[]) =>
  new Promise<{ err: Error | null; data: T; xml: string }>((resolve) => (cam as unknown as Record<string, (...a: unknown[]) => void>)[fn]!.call(cam, ...args, (err: Error | null, data: T, xml: string) => resolve({ err, data, xml })));

async function soap(path: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; xml: string }> {
  const r = await fetch(onvif.url + path, {
    method: "POST",
    headers: { "content-type": "application/soap+xml", ...headers },
    body: `<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>${body}</s:Body></s:Envelope>`,
  });
  return { status: r.status, xml: await r.text() };
}

beforeAll(async () => {
  rig = await startAccessRig();
  site = rig.identity.siteId;
  adminPw = rig.central.initialAdminPassword!;
  const ops = rig.central.ops;
  const log = new Logger({ component: "test", sink: rig.sink, level: "info" });
  let bridge: CentralOnvif | undefined;
  const replay = new ReplaySource({
    source: rig.centralStore,
    edgeHolds: async (id, stream, f, t) => (await rig.sites.timeline(site, id.slice(site.length + 1), stream, f, t)).ranges.length > 0,
    retrieve: async (id, _s, fromMs, toMs) => (retrievals.push({ id, fromMs, toMs }), `r${retrievals.length}`),
    clock: { now: () => Date.now() } as never,
    log,
  });
  rtsp = await startRtspOut({ live: rig.live, users: { verify: (u, p, c) => bridge!.credentials.verify(u, p, c) }, rights: ops.rights, host: "127.0.0.1", port: 0, plainPasswords: "account-passwords", log, replay });
  await untilRecording(rig.edge);
  // The mirror must know the camera before the bridge lists it.
  const deadline = Date.now() + 30_000;
  while (!(await rig.sites.cameras()).length && Date.now() < deadline) await Bun.sleep(200);
  // …and the edge's recordings before central starts its own copy (the edge-only replay case needs both).
  while (!(await rig.sites.timeline(site, "cam1", "sub", 0, Date.now())).ranges.length && Date.now() < deadline + 30_000) await Bun.sleep(500);
  bridge = onvif = await startCentralOnvif({
    dataDir: rig.root,
    host: "127.0.0.1",
    port: 0,
    discoveryPort: 0,
    users: ops.users,
    rights: ops.rights,
    alarms: ops.alarms,
    audit: (a) => ops.recordAudit(a),
    cameras: async () => (await rig.sites.cameras()).map((c) => ({ id: c.id, siteId: c.siteId, channel: c.channel, name: c.name, streams: c.streams })),
    // The rig's control plane has no transfer engine: merge central's store in here, as transfer.centralRanges does in the product.
    timeline: async (s, c, st, f, t) => {
      const edge = (await rig.sites.timeline(s, c, st, f, t)).ranges.filter((r) => r.held !== "central").map((r) => ({ startMs: Date.parse(r.start), endMs: Date.parse(r.end) }));
      const central = (await rig.centralStore.timeline({ cameraId: `${s}.${c}`, stream: st as "main", fromMs: f, toMs: t })).ranges;
      return { ranges: mergeHoldings(edge, central).map((r) => ({ start: new Date(r.startMs).toISOString(), end: new Date(r.endMs).toISOString(), held: r.held })) };
    },
    rtsp,
    store: rig.centralStore,
    log,
  });
}, 90_000);

afterAll(async () => {
  for (const p of procs) p.kill("SIGKILL");
  await onvif?.close();
  await rtsp?.close();
  await rig?.close();
}, 30_000);

describe("ONVIF bridge (Profile S, G, events) with the onvif npm client", () => {
  test("connects with the ONVIF password (WS-Security digest), lists main+sub per camera, and ffprobe plays the stream URI", async () => {
    const pw = onvif.credentials.passwordFor("admin")!;
    const cam = await connect("admin", pw);
    const info = await call<{ manufacturer: string; serialNumber: string }>(cam, "getDeviceInformation");
    expect(info.err).toBeNull();
    expect(info.data.manufacturer).toBe("Outpost");
    expect(info.data.serialNumber).toBe(site);
    const tokens = (cam.profiles as { $: { token: string } }[]).map((p) => p.$.token).sort();
    expect(tokens).toEqual(["cam1.main", "cam1.sub"]);
    const uri = await call<{ uri: string }>(cam, "getStreamUri", { protocol: "RTSP", profileToken: "cam1.sub" });
    expect(uri.err).toBeNull();
    expect(uri.data.uri).toBe(`rtsp://127.0.0.1:${rtsp.port}/${site}.cam1/sub`);
    // A VMS plays the URI with the credentials it onboarded the device with.
    const withCreds = uri.data.uri.replace("rtsp://", `rtsp://admin:${encodeURIComponent(pw)}@`);
    const r = await run(["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-show_streams", "-of", "json", withCreds]);
    expect(r.err).toBe("");
    const streams = (JSON.parse(r.out) as { streams: { codec_name: string; width: number; height: number }[] }).streams;
    expect(streams[0]).toMatchObject({ codec_name: "h264", width: 320, height: 180 });
    const snap = await call<{ uri: string }>(cam, "getSnapshotUri", { profileToken: "cam1.main" });
    expect(snap.data.uri).toBe(`${onvif.url}/onvif/${site}/snapshot/cam1.jpg`);
  }, 90_000);


  test("a user without view-live on the camera gets ter:NotAuthorized for its stream URI; a user without rights at the site for everything", async () => {
    const lobby = await connect("lobby", onvif.credentials.passwordFor("lobby")!);
    const r = await call<unknown>(lobby, "getStreamUri", { protocol: "RTSP", profileToken: "cam1.main" });
    expect(r.err).not.toBeNull();
    expect(r.xml).toContain("ter:NotAuthorized");
    expect(r.xml).toContain("view-live");
    await expect(connect("nobody", onvif.credentials.passwordFor("nobody")!)).rejects.toThrow();
    const raw = await soap(`/onvif/${site}/media_service`, `<GetProfiles xmlns="http://www.onvif.org/ver10/media/wsdl"/>`, { authorization: `Basic ${Buffer.from("nobody:nobody-password").toString("base64")}` });
    expect(raw.status).toBe(400);
    expect(raw.xml).toContain("ter:NotAuthorized");
  }, 30_000);


  test("PullPoint: an alarm raised at central reaches the subscriber; Unsubscribe ends it", async () => {
    const cam = await connect("admin", onvif.credentials.passwordFor("admin")!);
    const sub = await call<unknown>(cam, "createPullPointSubscription");
    expect(sub.err).toBeNull();
    const pulled = call<{ notificationMessage?: unknown }>(cam, "pullMessages", { messageLimit: 5 });
    await Bun.sleep(300);
    rig.central.ops.alarms.raise({ priority: 1, title: "Door forced", instructions: "", siteId: site, cameraId: `${site}.cam1`, eventId: "ev-onvif-1", eventType: "input", eventTimeMs: Date.now(), late: false, ruleId: "r1" });
    const p = await pulled;
    expect(p.err).toBeNull();
    expect(p.xml).toContain("tns1:Outpost/Alarm");
    expect(p.xml).toContain('Value="Door forced"');
    expect(p.xml).toContain('Name="Source" Value="cam1"');
    const u = await call<unknown>(cam, "unsubscribe");
    expect(u.err).toBeNull();
  }, 60_000);

  test("WS-Discovery on loopback answers a Probe with the site device's XAddr", async () => {
    const found = await probe("127.0.0.1", onvif.discoveryPort!, { timeoutMs: 500 });
    expect(found.map((d) => d.xaddrs[0])).toContain(onvif.deviceUrl(site));
  });

  test("Profile G: search lists central's recording; GetReplayUri + ffprobe read a replayed window of the right duration", async () => {
    // Central records the sub stream from live for a while (demand starts the edge uplink).
    const cid = `${site}.cam1`;
    const demand = rig.live.addViewer(site, "cam1", "sub");
    const stopRec = rig.recorder.recordLive(cid, "sub");
    const t0 = Date.now();
    const recorded = async () => (await rig.centralStore.timeline({ cameraId: cid, stream: "sub", fromMs: t0 - 60_000, toMs: Date.now() })).ranges;
    const deadline = Date.now() + 40_000;
    while (Date.now() < deadline && !(await recorded()).some((r) => r.endMs - r.startMs >= 8000)) await Bun.sleep(250);
    await stopRec();
    demand.release();
    const range = (await recorded()).find((r) => r.endMs - r.startMs >= 8000)!;
    expect(range).toBeDefined();
    const pw = onvif.credentials.passwordFor("admin")!;
    const auth = { authorization: `Basic ${Buffer.from(`admin:${pw}`).toString("base64")}` };
    const find = await soap(`/onvif/${site}/search_service`, `<FindRecordings xmlns="http://www.onvif.org/ver10/search/wsdl"><Scope/><KeepAliveTime>PT10S</KeepAliveTime></FindRecordings>`, auth);
    const token = /<tse:SearchToken>([^<]+)</.exec(find.xml)![1]!;
    const results = await soap(`/onvif/${site}/search_service`, `<GetRecordingSearchResults xmlns="http://www.onvif.org/ver10/search/wsdl"><SearchToken>${token}</SearchToken></GetRecordingSearchResults>`, auth);
    expect(results.xml).toContain("<tt:RecordingToken>cam1</tt:RecordingToken>");
    expect(results.xml).toMatch(/held: [a-z,]*central/);
    const summary = await soap(`/onvif/${site}/search_service`, `<GetRecordingSummary xmlns="http://www.onvif.org/ver10/search/wsdl"/>`, auth);
    expect(summary.xml).toContain("<tt:NumberRecordings>1</tt:NumberRecordings>");
    // Central now holds pictures of the camera: the snapshot URI serves its newest keyframe.
    const snap = await fetch(`${onvif.url}/onvif/${site}/snapshot/cam1.jpg`, { headers: auth });
    expect(snap.status).toBe(200);
    expect(snap.headers.get("content-type")).toBe("image/jpeg");
    expect([...new Uint8Array(await snap.arrayBuffer()).subarray(0, 2)]).toEqual([0xff, 0xd8]);
    const cam = await connect("admin", pw);
    // (The onvif client's getRecordingInformation reads the wrong response element, so this one goes raw.)
    const info = await soap(`/onvif/${site}/search_service`, `<GetRecordingInformation xmlns="http://www.onvif.org/ver10/search/wsdl"><RecordingToken>cam1</RecordingToken></GetRecordingInformation>`, auth);
    expect(info.xml).toContain("<tt:TrackType>Video</tt:TrackType>");
    const replayUri = await call<string>(cam, "getReplayUri", { recordingToken: "cam1" });
    expect(replayUri.err).toBeNull();
    expect(replayUri.data).toBe(`rtsp://127.0.0.1:${rtsp.port}/replay/${cid}/sub`);
    // A 4 s window from the middle of the recording (the URI's from/to: ffprobe cannot send Range: clock=).
    const from = range.startMs + 2000;
    const to = from + 4000;
    const u = `${replayUri.data.replace("rtsp://", `rtsp://admin:${encodeURIComponent(pw)}@`)}?from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`;
    const r = await run(["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-select_streams", "v", "-show_packets", "-show_entries", "packet=pts_time,duration_time", "-of", "json", u], 60_000);
    expect(r.code).toBe(0);
    const pk = (JSON.parse(r.out) as { packets: { pts_time: string; duration_time?: string }[] }).packets.map((p) => Number(p.pts_time)).filter(Number.isFinite);
    const seconds = Math.max(...pk) - Math.min(...pk);
    console.log(`replayed window: ${pk.length} video packets over ${seconds.toFixed(2)} s of media for a 4 s window`);
    // The plan starts at the keyframe at or before `from` (camsim: one per second): up to 1 s more.
    expect(seconds).toBeGreaterThan(3.3);
    expect(seconds).toBeLessThan(5.3);
  }, 120_000);

  test("replay over raw RTSP: PLAY with Range: clock= and Scale: 2 is answered with both and the server ends the session; bad Range → 457; edge-only → 503 + retrieval", async () => {
    const cid = `${site}.cam1`;
    const pw = onvif.credentials.passwordFor("admin")!;
    const range = (await rig.centralStore.timeline({ cameraId: cid, stream: "sub", fromMs: 0, toMs: Date.now() })).ranges.at(-1)!;
    const session = async (rangeHeader: string, scale = "2") => {
      const c = await RtspTestClient.connect(rtsp.port!);
      const base = `rtsp://127.0.0.1:${rtsp.port}/replay/${cid}/sub`;
      const h = { ...basicAuth("admin", pw), "Require": "onvif-replay" };
      await c.request("DESCRIBE", base, { ...h, Accept: "application/sdp" });
      const setup = await c.request("SETUP", `${base}/trackID=0`, { ...h, Transport: "RTP/AVP/TCP;unicast;interleaved=0-1" });
      const sid = parseSession(setup.headers?.get("session") ?? "").id;
      const play = await c.request("PLAY", base, { ...h, Session: sid, Range: rangeHeader, Scale: scale });
      const mark = c.mediaBytes;
      return { sock: c.sock, play: play.text, closed: () => c.closedAt !== null, bytes: () => c.mediaBytes - mark };
    };
    const from = range.startMs + 1000;
    const ok = await session(`clock=${clockString(from)}-${clockString(from + 3000)}`);
    expect(ok.play).toStartWith("RTSP/1.0 200");
    expect(ok.play).toContain("Scale: 2");
    expect(ok.play).toMatch(/Range: clock=\d{8}T\d{6}(\.\d{3})?Z-\d{8}T\d{6}(\.\d{3})?Z/);
    const end = Date.now() + 30_000;
    while (!ok.closed() && Date.now() < end) await Bun.sleep(100);
    expect(ok.closed()).toBe(true);
    expect(ok.bytes()).toBeGreaterThan(10_000);
    const bad = await session("clock=yesterday-");
    expect(bad.play).toStartWith("RTSP/1.0 457");
    bad.sock.destroy();
    // Edge-only: before central's first recording, while the edge holds it (the mirror lists it).
    const edgeRanges = async () => (await rig.sites.timeline(site, "cam1", "sub", 0, range.startMs - 1000)).ranges;
    const until = Date.now() + 30_000;
    while (!(await edgeRanges()).length && Date.now() < until) await Bun.sleep(500);
    const e = (await edgeRanges())[0]!;
    const ef = Date.parse(e.start);
    const edge = await session(`clock=${clockString(ef)}-${clockString(Math.min(ef + 2000, Date.parse(e.end)))}`);
    expect(edge.play).toStartWith("RTSP/1.0 503");
    expect(edge.play).toContain("Retry-After: 10");
    expect(edge.play).toContain("retrieving");
    expect(retrievals.at(-1)).toMatchObject({ id: cid, fromMs: ef });
    edge.sock.destroy();
  }, 90_000);

  test("hostile SOAP over HTTP: XXE is a ter:WellFormed fault (nothing read from disk), an over-large body is 413", async () => {
    const xxe = `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><GetDeviceInformation xmlns="http://www.onvif.org/ver10/device/wsdl">&e;</GetDeviceInformation></s:Body></s:Envelope>`;
    const r = await fetch(`${onvif.url}/onvif/${site}/device_service`, { method: "POST", headers: { "content-type": "application/soap+xml" }, body: xxe });
    const body = await r.text();
    expect(r.status).toBe(400);
    expect(body).toContain("ter:WellFormed");
    expect(body).not.toContain("root:");
    const big = await fetch(`${onvif.url}/onvif/${site}/device_service`, { method: "POST", headers: { "content-type": "application/soap+xml" }, body: "<a>" + "x".repeat(300 * 1024) + "</a>" });
    expect(big.status).toBe(413);
    expect(await big.text()).toContain("larger than");
  });

  // Failed logins count against the login throttle (per user and per client address): these go last.
  test("HTTP Basic with the central password works; wrong passwords get 401 ter:NotAuthorized with a Digest challenge", async () => {
    const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}` });
    const okr = await soap(`/onvif/${site}/media_service`, `<GetProfiles xmlns="http://www.onvif.org/ver10/media/wsdl"/>`, basic("admin", adminPw));
    expect(okr.status).toBe(200);
    expect(okr.xml).toContain('token="cam1.main"');
    // Which sites exist is not told before authentication; after it, an unknown site is a rights fault.
    const info = `<GetDeviceInformation xmlns="http://www.onvif.org/ver10/device/wsdl"/>`;
    expect((await soap(`/onvif/no-such-site/device_service`, info)).status).toBe(401);
    expect((await soap(`/onvif/${site}/device_service`, info)).status).toBe(401);
    const unknown = await soap(`/onvif/no-such-site/device_service`, info, basic("admin", adminPw));
    expect(unknown.status).toBe(400);
    expect(unknown.xml).toContain("ter:NotAuthorized");
    const bad = await soap(`/onvif/${site}/media_service`, `<GetProfiles xmlns="http://www.onvif.org/ver10/media/wsdl"/>`, basic("admin", "wrong-password"));
    expect(bad.status).toBe(401);
    expect(bad.xml).toContain("ter:NotAuthorized");
    await expect(connect("admin", "not-the-onvif-password")).rejects.toThrow();
  }, 30_000);
  test("a changed central password changes the user's ONVIF password", async () => {
    const before = onvif.credentials.passwordFor("lobby");
    await rig.central.ops.users.updateUser("lobby", { password: "lobby-password-2" });
    expect(onvif.credentials.passwordFor("lobby")).not.toBe(before);
    await expect(connect("lobby", before!)).rejects.toThrow();
  }, 30_000);
});
