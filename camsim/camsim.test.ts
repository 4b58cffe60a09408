/**
 * camsim against real clients: ffprobe/ffmpeg over RTSP, the npm `onvif` client, WS-Discovery.
 * Small streams keep the two cores free for whatever else runs beside this test.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { Cam } from "onvif";
import { MemorySink, Logger } from "../lib/log/index.ts";
import { probe, startCamsim, withCredentials, type Camsim } from "./index.ts";
import { runTool, type ToolRun } from "../lib/testing/run-tool.ts";

setDefaultTimeout(60_000);

let sim: Camsim;
const sink = new MemorySink();

beforeAll(async () => {
  sim = await startCamsim({
    cameras: 2,
    main: { width: 640, height: 360, fps: 10, bitrateKbps: 400 },
    sub: { width: 320, height: 180, fps: 10, bitrateKbps: 150 },
    maxPullWaitMs: 5000,
    log: new Logger({ component: "camsim", sink, level: "debug" }),
  });
});

afterAll(async () => {
  await sim?.close();
});

type Run = ToolRun;
const run = (cmd: string[], timeoutMs = 20000) => runTool(cmd, { timeoutMs });

function ffprobe(url: string): Promise<Run> {
  return run(["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-analyzeduration", "1500000", "-select_streams", "v", "-show_entries", "stream=codec_name,width,height", "-of", "json", url]);
}

async function videoOf(url: string): Promise<{ codec_name: string; width: number; height: number }> {
  const r = await ffprobe(url);
  expect(r.code).toBe(0);
  return JSON.parse(r.out).streams[0];
}

const auth = (url: string) => withCredentials(url, "admin", "camsim");

/** ESTABLISHED TCP connections (IPv4) whose remote port is `port`: what a client holds open. */
function establishedTo(port: number): number {
  const lines = readFileSync("/proc/net/tcp", "utf8").trim().split("\n").slice(1);
  return lines.filter((l) => {
    const f = l.trim().split(/\s+/);
    return f[3] === "01" && parseInt(f[2]!.split(":")[1]!, 16) === port;
  }).length;
}

/** An ffmpeg reader that counts the bytes of video it receives. */
function reader(url: string) {
  const p = Bun.spawn(["ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-i", url, "-map", "0:v", "-c", "copy", "-f", "h264", "pipe:1"], {
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
  });
  const state = { bytes: 0, proc: p };
  (async () => {
    for await (const chunk of p.stdout) state.bytes += chunk.length;
  })();
  return state;
}

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (cond()) return true;
    await Bun.sleep(100);
  }
  return cond();
}

function call<T>(fn: (cb: (err: Error | null, res: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, res) => (err ? reject(err) : resolve(res))));
}

function onvifCam(port: number, password: string, useWSSecurity = true) {
  // autoconnect:false — otherwise the constructor connects by itself and connect() runs twice.
  return new Cam({ hostname: "127.0.0.1", port, username: "admin", password, autoconnect: false, useWSSecurity, timeout: 15000 }) as any;
}

const post = (path: string, body?: unknown) =>
  fetch(`${sim.controlUrl}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });

describe("RTSP", () => {
  test("main and sub are H.264 at the configured sizes with credentials", async () => {
    const cam = sim.cameras[0]!;
    expect(cam.rtspMain).toBe(`rtsp://127.0.0.1:${sim.rtspPort}/cam1/main`);
    expect(await videoOf(auth(cam.rtspMain))).toMatchObject({ codec_name: "h264", width: 640, height: 360 });
    expect(await videoOf(auth(cam.rtspSub))).toMatchObject({ codec_name: "h264", width: 320, height: 180 });
  });

  test("no or wrong credentials are refused with 401", async () => {
    const cam = sim.cameras[0]!;
    const none = await ffprobe(cam.rtspSub);
    expect(none.code).not.toBe(0);
    expect(none.err).toContain("401");
    const wrong = await ffprobe(withCredentials(cam.rtspSub, "admin", "nope"));
    expect(wrong.code).not.toBe(0);
    expect(wrong.err).toContain("401");
  });

  test("stall keeps TCP open without data; resume brings data back", async () => {
    const cam = sim.cameras[0]!;
    const r = reader(auth(cam.rtspSub));
    try {
      expect(await waitFor(() => r.bytes > 5000, 15000)).toBe(true);
      const before = establishedTo(sim.rtspPort);
      await post("/cameras/cam1/stall").then((res) => expect(res.status).toBe(200));
      expect(sim.camera("cam1").state).toBe("stalled");
      await Bun.sleep(500); // let in-flight packets drain
      const frozen = r.bytes;
      await Bun.sleep(2000);
      expect(r.bytes).toBe(frozen);
      expect(r.proc.exitCode).toBeNull();
      expect(establishedTo(sim.rtspPort)).toBe(before);
      await sim.resume("cam1");
      expect(sim.camera("cam1").state).toBe("running");
      expect(await waitFor(() => r.bytes > frozen + 5000, 10000)).toBe(true);
    } finally {
      r.proc.kill();
      await r.proc.exited;
    }
  });

  test("stop ends the session and refuses new ones; restart brings the camera back", async () => {
    const cam = sim.cameras[1]!;
    const r = reader(auth(cam.rtspSub));
    try {
      expect(await waitFor(() => r.bytes > 5000, 15000)).toBe(true);
      await sim.stop("cam2");
      expect(cam.state).toBe("stopped");
      await r.proc.exited;
      const refused = await ffprobe(auth(cam.rtspSub));
      expect(refused.code).not.toBe(0);
      expect(refused.err).toContain("404");
      await sim.start("cam2");
      expect(await videoOf(auth(cam.rtspSub))).toMatchObject({ width: 320 });
      const t0 = Date.now();
      // 3 s down: an ffprobe started on a loaded machine must still meet the stopped camera (with 0.8 s it met the restarted one).
      const restarting = post("/cameras/cam2/restart", { delayMs: 3000 });
      await Bun.sleep(200);
      expect(cam.state).toBe("stopped");
      expect((await ffprobe(auth(cam.rtspSub))).code).not.toBe(0);
      expect((await restarting).status).toBe(200);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(3000);
      expect(cam.state).toBe("running");
      expect(await videoOf(auth(cam.rtspSub))).toMatchObject({ codec_name: "h264", width: 320, height: 180 });
    } finally {
      r.proc.kill();
      await r.proc.exited;
    }
  });

  test("resolution change reaches a connected reader and new clients", async () => {
    const cam = sim.cameras[1]!;
    const r = reader(auth(cam.rtspMain));
    try {
      expect(await waitFor(() => r.bytes > 5000, 15000)).toBe(true);
      const res = await post("/cameras/cam2/resolution", { width: 480, height: 272 });
      expect(res.status).toBe(200);
      expect((await res.json()).main).toMatchObject({ width: 480, height: 272 });
      const mark = r.bytes;
      expect(await waitFor(() => r.bytes > mark + 5000, 10000)).toBe(true);
      expect(r.proc.exitCode).toBeNull(); // the live reader survived the new SPS
      expect(await videoOf(auth(cam.rtspMain))).toMatchObject({ width: 480, height: 272 });
    } finally {
      r.proc.kill();
      await r.proc.exited;
    }
  });
});

describe("bitrate", () => {
  // What benchmarks count on: a stream claiming K kbit/s carries about K kbit/s. Noise ("snow")
  // cannot be compressed, so the encoder spends its whole budget; the default ball would not.
  test("a snow picture delivers the bitrate it claims (bytes received over RTSP)", async () => {
    const kbps = 600;
    const busy = await startCamsim({ cameras: 1, pattern: "snow", main: { width: 640, height: 360, fps: 10, bitrateKbps: kbps }, discoveryPort: null, log: new Logger({ component: "camsim", sink }) });
    try {
      const r = reader(withCredentials(busy.cameras[0]!.rtspMain, busy.user, busy.password));
      expect(await waitFor(() => r.bytes > 0, 20_000)).toBe(true);
      await Bun.sleep(1000); // past the first GOP
      const b0 = r.bytes;
      const t0 = performance.now();
      await Bun.sleep(4000);
      const got = ((r.bytes - b0) * 8) / (performance.now() - t0);
      r.proc.kill();
      expect(got).toBeGreaterThan(kbps * 0.8);
      expect(got).toBeLessThan(kbps * 1.3);
    } finally {
      await busy.close();
    }
  });
});

describe("ONVIF", () => {
  test("the onvif client connects and reads device, profiles, stream and snapshot URIs", async () => {
    const c = sim.cameras[0]!;
    const cam = onvifCam(c.onvifPort, "camsim");
    await call((cb) => cam.connect(cb));
    const info: any = await call((cb) => cam.getDeviceInformation(cb));
    expect(info).toMatchObject({ manufacturer: "Outpost", model: "camsim" });
    const profiles: any[] = await call((cb) => cam.getProfiles(cb));
    expect(profiles.map((p) => p.$.token)).toEqual(["main", "sub"]);
    expect(profiles[0].videoEncoderConfiguration).toMatchObject({ encoding: "H264", resolution: { width: 640, height: 360 } });
    expect(profiles[1].videoEncoderConfiguration.resolution).toEqual({ width: 320, height: 180 });
    const main: any = await call((cb) => cam.getStreamUri({ protocol: "RTSP", profileToken: "main" }, cb));
    expect(main.uri).toBe(c.rtspMain);
    const sub: any = await call((cb) => cam.getStreamUri({ protocol: "RTSP", profileToken: "sub" }, cb));
    expect(sub.uri).toBe(c.rtspSub);
    const snap: any = await call((cb) => cam.getSnapshotUri({ profileToken: "main" }, cb));
    expect(snap.uri).toBe(c.snapshotUrl);
    const jpeg = await fetch(snap.uri, { headers: { authorization: `Basic ${btoa("admin:camsim")}` } });
    expect(jpeg.status).toBe(200);
    expect(jpeg.headers.get("content-type")).toBe("image/jpeg");
    const bytes = new Uint8Array(await jpeg.arrayBuffer());
    expect([bytes[0], bytes[1]]).toEqual([0xff, 0xd8]);
    expect((await fetch(snap.uri)).status).toBe(401);
  });

  test("HTTP digest works when WS-Security is off", async () => {
    const cam = onvifCam(sim.cameras[0]!.onvifPort, "camsim", false);
    await call((cb) => cam.connect(cb));
    const info: any = await call((cb) => cam.getDeviceInformation(cb));
    expect(info.model).toBe("camsim");
  });

  test("wrong credentials fail: WS-Security → NotAuthorized fault, digest → 401", async () => {
    const port = sim.cameras[0]!.onvifPort;
    await expect(call((cb) => onvifCam(port, "wrong").connect(cb))).rejects.toThrow(/not authorized/i);
    await expect(call((cb) => onvifCam(port, "wrong", false).connect(cb))).rejects.toThrow(/401/);
  });

  test("pull point delivers a motion event triggered through the control API", async () => {
    const cam = onvifCam(sim.cameras[0]!.onvifPort, "camsim");
    await call((cb) => cam.connect(cb));
    await call((cb) => cam.createPullPointSubscription(cb));
    const initial: any = await call((cb) => cam.pullMessages({}, cb));
    const init = [initial.notificationMessage].flat();
    expect(init.map((m: any) => m.topic._).sort()).toEqual(["tns1:Device/Trigger/DigitalInput", "tns1:VideoSource/MotionAlarm"]);
    // The pull waits (long poll) until the event arrives.
    const pulling = call((cb) => cam.pullMessages({}, cb));
    await Bun.sleep(300);
    const res = await post("/cameras/cam1/events", { type: "motion", state: true });
    expect(res.status).toBe(200);
    const got: any = await pulling;
    const msg = [got.notificationMessage].flat()[0];
    expect(msg.topic._).toBe("tns1:VideoSource/MotionAlarm");
    expect(msg.message.message.$.PropertyOperation).toBe("Changed");
    expect(msg.message.message.data.simpleItem.$).toEqual({ Name: "State", Value: true });
    sim.emitEvent("cam1", { type: "input", state: true });
    const input: any = await call((cb) => cam.pullMessages({}, cb));
    const im = [input.notificationMessage].flat()[0];
    expect(im.topic._).toBe("tns1:Device/Trigger/DigitalInput");
    expect(im.message.message.data.simpleItem.$).toEqual({ Name: "LogicalState", Value: true });
    const renewed: any = await call((cb) => cam.renew({}, cb));
    expect(renewed.terminationTime).toBeInstanceOf(Date);
    await call((cb) => cam.unsubscribe(cb));
    sim.emitEvent("cam1", { type: "motion", state: false });
  });

  test("profiles follow a resolution change", async () => {
    await sim.setResolution("cam1", 512, 288);
    const cam = onvifCam(sim.cameras[0]!.onvifPort, "camsim");
    await call((cb) => cam.connect(cb));
    const profiles: any[] = await call((cb) => cam.getProfiles(cb));
    expect(profiles[0].videoEncoderConfiguration.resolution).toEqual({ width: 512, height: 288 });
    await sim.setResolution("cam1", 640, 360);
  });

  test("unknown profile token and unknown action are SOAP faults", async () => {
    const cam = onvifCam(sim.cameras[0]!.onvifPort, "camsim");
    await call((cb) => cam.connect(cb));
    await expect(call((cb) => cam.getStreamUri({ profileToken: "nope" }, cb))).rejects.toThrow(/SOAP Fault/);
    await expect(call((cb) => cam.getNTP(cb))).rejects.toThrow(/not implemented/);
  });
});

describe("WS-Discovery", () => {
  test("a unicast probe finds every camera with its device service URL", async () => {
    const found = await probe("127.0.0.1", sim.discoveryPort!, { timeoutMs: 500 });
    expect(found.map((d) => d.xaddrs[0]).sort()).toEqual(sim.cameras.map((c) => c.onvifUrl).sort());
    expect(found.every((d) => d.types.includes("dn:NetworkVideoTransmitter"))).toBe(true);
  });

  test("probe refuses non-loopback targets", async () => {
    await expect(probe("192.0.2.1", 3702)).rejects.toThrow(/loopback/);
  });
});

describe("control API and options", () => {
  test("GET /cameras lists URLs and state", async () => {
    const body = await (await fetch(`${sim.controlUrl}/cameras`)).json();
    expect(body.cameras).toHaveLength(2);
    expect(body.cameras[0]).toMatchObject({ id: "cam1", state: "running", rtspMain: sim.cameras[0]!.rtspMain, onvifUrl: sim.cameras[0]!.onvifUrl });
  });

  test("bad requests get problem+json", async () => {
    const unknown = await post("/cameras/cam9/stop");
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get("content-type")).toBe("application/problem+json");
    expect((await unknown.json()).detail).toContain("cam9");
    expect((await post("/cameras/cam1/resolution", { width: 641, height: 360 })).status).toBe(400);
    expect((await post("/cameras/cam1/resolution", { width: "x" })).status).toBe(400);
    expect((await post("/cameras/cam1/events", { type: "smoke", state: true })).status).toBe(400);
    const malformed = await fetch(`${sim.controlUrl}/cameras/cam1/events`, { method: "POST", headers: { "content-type": "application/json" }, body: "{nope" });
    expect(malformed.status).toBe(400);
    expect((await malformed.json()).detail).toMatch(/Malformed JSON/);
    expect((await post("/cameras/cam1/restart", { delayMs: -1 })).status).toBe(400);
    expect((await post("/cameras/cam1/jump", { seconds: 7200 })).status).toBe(400);
    expect((await post("/cameras/cam1/clock-rate", { rate: 0 })).status).toBe(400);
    expect((await post("/cameras/cam1/clock-step", {})).status).toBe(400);
    // scripted activity: a window must end after it starts; a good one is accepted
    const now = Date.now();
    const backwards = await post("/cameras/cam1/activity", { windows: [{ fromMs: now + 2000, toMs: now + 1000 }] });
    expect(backwards.status).toBe(400);
    expect((await backwards.json()).detail).toMatch(/fromMs < toMs/);
    expect((await post("/cameras/cam1/activity", { windows: [] })).status).toBe(400);
    expect((await post("/cameras/cam1/activity", { windows: [{ fromMs: now + 60_000, toMs: now + 61_000 }] })).status).toBe(200);
  });

  test("clock faults: clock-rate reaches the RTP timestamps a reader sees; jump is accepted; clock-step moves the ONVIF time", async () => {
    // RTP timestamps of cam2's sub stream as an RTSP client sees them (ffprobe's packet pts).
    const pts = async () => {
      const r = await run(["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-select_streams", "v", "-read_intervals", "%+1.5", "-show_entries", "packet=pts", "-of", "csv=p=0", auth(sim.cameras[1]!.rtspSub)]);
      return r.out.split("\n").map((l) => parseInt(l, 10)).filter(Number.isFinite);
    };
    const base = await pts();
    expect(base.length).toBeGreaterThan(5);
    expect((await post("/cameras/cam2/jump", { seconds: 30 })).status).toBe(200);
    expect((await post("/cameras/cam2/jump", { seconds: -30 })).status).toBe(200);
    expect((await post("/cameras/cam2/clock-rate", { rate: 0.5 })).status).toBe(200);
    // Frames now come 0.5 × 100 ms apart in RTP time.
    const after = await pts();
    const step = (after.at(-1)! - after[0]!) / (after.length - 1);
    expect(step).toBeGreaterThan(0.4 * 9000);
    expect(step).toBeLessThan(0.6 * 9000);
    await post("/cameras/cam2/clock-rate", { rate: 1 });
    const onvifTime = async () => {
      const r = await fetch(sim.cameras[1]!.onvifUrl, { method: "POST", headers: { "content-type": "application/soap+xml" }, body: '<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>' });
      const x = await r.text();
      const n = (t: string) => Number(new RegExp(`<tt:${t}>(\\d+)<`).exec(x)![1]);
      return Date.UTC(n("Year"), n("Month") - 1, n("Day"), n("Hour"), n("Minute"), n("Second"));
    };
    const before = await onvifTime();
    expect((await post("/cameras/cam2/clock-step", { seconds: 3600 })).status).toBe(200);
    expect((await onvifTime()) - before).toBeGreaterThan(3590_000);
    await post("/cameras/cam2/clock-step", { seconds: -3600 });
  });

  test("bad options are refused before anything starts", async () => {
    await expect(startCamsim({ cameras: 0 })).rejects.toThrow(/cameras/);
    await expect(startCamsim({ cameras: 1, main: { width: 100, height: 101 } })).rejects.toThrow(/even/);
    await expect(startCamsim({ cameras: 1, user: "u", password: "" })).rejects.toThrow(/password/);
    await expect(startCamsim({ cameras: 1, host: "0.0.0.0" as "127.0.0.1" })).rejects.toThrow(/127.0.0.1/);
  });
});

describe("lifecycle", () => {
  test("without auth streams open anonymously, audio is AAC, and close() leaves no child behind", async () => {
    const open = await startCamsim({ cameras: 1, user: "", audio: true, sub: { width: 320, height: 180, fps: 5, bitrateKbps: 100 }, discoveryPort: null, log: new Logger({ component: "camsim", sink }) });
    const pid = open.rtspPid!;
    try {
      const all = await run(["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-show_entries", "stream=codec_name,width", "-of", "json", open.cameras[0]!.rtspSub]);
      expect(all.code).toBe(0);
      const streams = JSON.parse(all.out).streams as { codec_name: string; width?: number }[];
      expect(streams.map((x) => x.codec_name).sort()).toEqual(["aac", "h264"]);
      expect(streams.find((x) => x.codec_name === "h264")!.width).toBe(320);
      const cam = new Cam({ hostname: "127.0.0.1", port: open.cameras[0]!.onvifPort, autoconnect: false }) as any;
      await call((cb) => cam.connect(cb));
      expect(cam.profiles).toHaveLength(2);
    } finally {
      await open.close();
    }
    expect(() => process.kill(pid, 0)).toThrow();
    expect((await fetch(open.controlUrl).catch((e: Error) => e)) instanceof Error).toBe(true);
  });

  test("outpost camsim prints URLs as JSON and cleans up on SIGTERM", async () => {
    const p = Bun.spawn(["bun", new URL("../cli/outpost.ts", import.meta.url).pathname, "camsim", "--cameras", "1", "--sub", "320x180@5", "--main", "320x180@5", "--json", "-"], {
      stdout: "pipe",
      stderr: "pipe",
      stdin: "ignore",
    });
    let out = "";
    const dec = new TextDecoder();
    for await (const chunk of p.stdout) {
      out += dec.decode(chunk);
      if (out.trimEnd().endsWith("}") && out.includes('"cameras"')) {
        try {
          JSON.parse(out);
          break;
        } catch {
          // keep reading
        }
      }
    }
    const info = JSON.parse(out);
    expect(info.cameras[0].rtspMain).toMatch(/^rtsp:\/\/127\.0\.0\.1:\d+\/cam1\/main$/);
    const list = await (await fetch(`${info.controlUrl}/cameras`)).json();
    expect(list.cameras[0].id).toBe("cam1");
    p.kill("SIGTERM");
    expect(await p.exited).toBe(0);
    expect((await fetch(`${info.controlUrl}/cameras`).catch((e: Error) => e)) instanceof Error).toBe(true);
  });
});
