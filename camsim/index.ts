/**
 * camsim/ — simulated ONVIF/RTSP cameras for tests, demos and benchmarks (`outpost camsim`).
 *
 * Owns: the RTSP side (rtsp_server.py, a GstRtspServer child supervised by rtsp.ts), one ONVIF
 * device per camera (onvif.ts, events.ts; SOAP, auth and WS-Discovery from lib/onvif), JPEG
 * snapshots (snapshot.ts) and the HTTP control endpoint for faults and events (control.ts).
 * Must not touch: edge/, central/, federation/ or lib/ (it uses lib/onvif, lib/log, lib/clock) — the edge uses camsim only through its
 * network faces (RTSP, ONVIF, WS-Discovery) and, in tests, through this TypeScript API.
 */
import { systemClock, type Clock } from "../lib/clock.ts";
import { createLogger, type Logger } from "../lib/log/index.ts";
import { startControl } from "./control.ts";
import { startDiscovery, type DiscoveryResponder } from "../lib/onvif/discovery.ts";
import { EventHub, type EventType } from "./events.ts";
import { startOnvif, type OnvifDevice } from "./onvif.ts";
import { RtspServer, type AudioCodec, type StreamSpec, type VideoCodec } from "./rtsp.ts";
import { renderSnapshot } from "./snapshot.ts";

export { probe, type DiscoveredDevice } from "../lib/onvif/discovery.ts";
export type { StreamSpec, AudioCodec, VideoCodec } from "./rtsp.ts";
export type { EventType } from "./events.ts";

export type CameraState = "running" | "stopped" | "stalled";

export interface SimCamera {
  /** "cam1", "cam2", … */
  id: string;
  name: string;
  /** RTSP URLs without credentials: rtsp://127.0.0.1:PORT/camN/main and …/sub. */
  rtspMain: string;
  rtspSub: string;
  /** ONVIF device service URL: http://127.0.0.1:PORT/onvif/device_service (one port per camera). */
  onvifUrl: string;
  onvifPort: number;
  /** JPEG; needs the same credentials (HTTP digest or basic). */
  snapshotUrl: string;
  /** WS-Discovery endpoint reference (urn:uuid:…). */
  endpoint: string;
  state: CameraState;
  main: StreamSpec;
  sub: StreamSpec;
}

export interface CamsimOptions {
  cameras: number;
  host?: "127.0.0.1";
  /** 0 = any free port (default). */
  rtspPort?: number;
  /** Camera i (1-based) gets onvifBasePort + i - 1; 0 = a free port per camera (default). */
  onvifBasePort?: number;
  /** HTTP control endpoint; 0 = free port (default). */
  controlPort?: number;
  /** WS-Discovery unicast responder on 127.0.0.1; 0 = free port (default); null = off. */
  discoveryPort?: number | null;
  /** Default "admin"; "" disables authentication on RTSP, ONVIF and snapshots. */
  user?: string;
  /** Default "camsim". */
  password?: string;
  main?: Partial<StreamSpec>;
  sub?: Partial<StreamSpec>;
  audio?: boolean;
  /** Audio encoding when `audio` is on; default "aac" (RFC 3640). */
  audioCodec?: AudioCodec;
  /** Video encoding; default "h264". */
  codec?: VideoCodec;
  /** B-frames (0..3; default 0 — most cameras send none; some do). */
  bframes?: number;
  /** First RTP timestamp of every stream (32-bit), e.g. near 2^32 to wrap soon; default random. */
  rtpTimestampOffset?: number;
  /**
   * videotestsrc pattern; default "ball" (cheap, with motion). A stream's bitrateKbps is the
   * encoder's ceiling: a picture this simple needs ~300 kbit/s at 640x360 whatever the setting.
   * "snow" (noise in every frame) cannot be compressed and sends the bitrate it claims: use it
   * where the bitrate matters (recording cost per byte, link budgets).
   */
  pattern?: string;
  /** If set, each camera toggles motion every this many ms. */
  motionEveryMs?: number;
  /** Upper bound of one ONVIF PullMessages wait (default 60 s, the ONVIF norm). */
  maxPullWaitMs?: number;
  clock?: Clock;
  log?: Logger;
}

export interface Camsim {
  cameras: SimCamera[];
  controlUrl: string;
  rtspPort: number;
  /** pid of the GStreamer RTSP child (all encoders live there), for CPU measurements. */
  rtspPid: number | undefined;
  discoveryPort: number | null;
  user: string;
  password: string;
  camera(id: string): SimCamera;
  stop(id: string): Promise<void>;
  /** Start a stopped camera again. */
  start(id: string): Promise<void>;
  stall(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  /** Stop, wait delayMs (default 2000), start; resolves when the camera is back. Clears a stall. */
  restart(id: string, delayMs?: number): Promise<void>;
  setResolution(id: string, width: number, height: number): Promise<void>;
  /**
   * RTP timestamps of every stream of the camera jump by `seconds` (−3600..3600). Backward: at
   * once, as behind a proxy that rewrites them; forward: the stream pauses that long first.
   */
  jump(id: string, seconds: number): Promise<void>;
  /** The camera's media clock runs at `rate` × real time (0.5..1; 1 = correct): a slow crystal. */
  setClockRate(id: string, rate: number): Promise<void>;
  /**
   * The camera's host clock steps by `seconds` (an NTP correction): its ONVIF time moves, and so
   * do its RTP timestamps (cameras that stamp RTP from the wall clock).
   */
  clockStep(id: string, seconds: number): Promise<void>;
  emitEvent(id: string, ev: { type: EventType; state: boolean }): void;
  /**
   * Scripted activity: during each window (wall-clock ms) a block moves across the picture of
   * both streams; with `onvifMotion` the camera also raises ONVIF motion for the window (a
   * camera with motion detection). Windows add to those already scheduled.
   */
  scheduleActivity(id: string, windows: { fromMs: number; toMs: number }[], opts?: { onvifMotion?: boolean }): Promise<void>;
  close(): Promise<void>;
}

export class CamsimError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 404 | 409 = 400,
  ) {
    super(message);
    this.name = "CamsimError";
  }
}

export const DEFAULT_MAIN: StreamSpec = { width: 1280, height: 720, fps: 15, bitrateKbps: 1000 };
export const DEFAULT_SUB: StreamSpec = { width: 640, height: 360, fps: 15, bitrateKbps: 300 };
export const MAX_CAMERAS = 64;

export function validateSpec(s: StreamSpec, what: string): StreamSpec {
  const int = (v: number, lo: number, hi: number, name: string) => {
    if (!Number.isInteger(v) || v < lo || v > hi) throw new CamsimError(`${what}.${name} must be an integer ${lo}..${hi}, got ${v}`);
  };
  int(s.width, 16, 7680, "width");
  int(s.height, 16, 4320, "height");
  if (s.width % 2 || s.height % 2) throw new CamsimError(`${what}: width and height must be even, got ${s.width}x${s.height}`);
  int(s.fps, 1, 60, "fps");
  int(s.bitrateKbps, 32, 50000, "bitrateKbps");
  return s;
}

/** rtsp://host/x + credentials → rtsp://user:password@host/x (percent-encoded). */
export function withCredentials(url: string, user: string, password: string): string {
  if (!user) return url;
  const u = new URL(url);
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(password);
  return u.toString();
}

interface Cam {
  pub: SimCamera;
  id: string;
  name: string;
  running: boolean;
  stalled: boolean;
  events: EventHub;
  onvif?: OnvifDevice;
  snapCache?: { at: number; jpeg: Uint8Array<ArrayBuffer> };
  busy: Promise<unknown>;
  /** The camera's host clock minus the real one (clockStep). */
  clockOffsetMs: number;
}

export async function startCamsim(opts: CamsimOptions): Promise<Camsim> {
  const n = opts.cameras;
  if (!Number.isInteger(n) || n < 1 || n > MAX_CAMERAS) throw new CamsimError(`cameras must be an integer 1..${MAX_CAMERAS}, got ${n}`);
  const host = opts.host ?? "127.0.0.1";
  if (host !== "127.0.0.1") throw new CamsimError("camsim binds to 127.0.0.1 only");
  const user = opts.user ?? "admin";
  const password = opts.password ?? "camsim";
  if (user && !password) throw new CamsimError("a password is required when a user is set (use user \"\" to disable authentication)");
  const mainSpec = validateSpec({ ...DEFAULT_MAIN, ...opts.main }, "main");
  const subSpec = validateSpec({ ...DEFAULT_SUB, ...opts.sub }, "sub");
  const pattern = opts.pattern ?? "ball";
  if (!/^[a-z0-9-]+$/.test(pattern)) throw new CamsimError(`pattern must be a videotestsrc pattern name, got ${pattern}`);
  for (const [name, p] of [["rtspPort", opts.rtspPort], ["onvifBasePort", opts.onvifBasePort], ["controlPort", opts.controlPort], ["discoveryPort", opts.discoveryPort]] as const) {
    if (p != null && (!Number.isInteger(p) || p < 0 || p > 65535)) throw new CamsimError(`${name} must be a port number 0..65535, got ${p}`);
  }
  const clock = opts.clock ?? systemClock;
  const log = opts.log ?? createLogger("camsim");
  const audio = opts.audio ?? false;
  const audioCodec = opts.audioCodec ?? "aac";
  if (!["aac", "latm", "pcmu", "pcma"].includes(audioCodec)) throw new CamsimError(`audioCodec must be aac, latm, pcmu or pcma, got ${audioCodec}`);
  const codec = opts.codec ?? "h264";
  if (codec !== "h264" && codec !== "h265" && codec !== "mjpeg") throw new CamsimError(`codec must be h264, h265 or mjpeg, got ${codec}`);
  const bframes = opts.bframes ?? 0;
  if (!Number.isInteger(bframes) || bframes < 0 || bframes > 3) throw new CamsimError(`bframes must be an integer 0..3, got ${bframes}`);
  const tsOffset = opts.rtpTimestampOffset;
  if (tsOffset !== undefined && (!Number.isInteger(tsOffset) || tsOffset < 0 || tsOffset > 0xffffffff)) throw new CamsimError(`rtpTimestampOffset must be a 32-bit unsigned integer, got ${tsOffset}`);

  const cams: Cam[] = [];
  for (let i = 1; i <= n; i++) {
    const pub: SimCamera = {
      id: `cam${i}`,
      name: `cam${i}`,
      rtspMain: "",
      rtspSub: "",
      onvifUrl: "",
      onvifPort: 0,
      snapshotUrl: "",
      endpoint: `urn:uuid:${crypto.randomUUID()}`,
      state: "running",
      main: { ...mainSpec },
      sub: { ...subSpec },
    };
    cams.push({
      pub,
      id: pub.id,
      name: pub.name,
      running: true,
      stalled: false,
      events: new EventHub(clock),
      busy: Promise.resolve(),
      clockOffsetMs: 0,
    });
  }

  const rtsp = await RtspServer.start(
    { host, port: opts.rtspPort ?? 0, user, password, audio, audioCodec, codec, bframes, ...(tsOffset !== undefined ? { timestampOffset: tsOffset } : {}), pattern, profile: "baseline", cameras: cams.map((c) => ({ id: c.id, name: c.name, main: c.pub.main, sub: c.pub.sub })) },
    log.child({ component: "camsim.rtsp" }),
  );
  const timers: ReturnType<typeof setInterval>[] = [];
  const pending = new Set<ReturnType<typeof setTimeout>>();
  let discovery: DiscoveryResponder | undefined;
  let control: { url: string; stop(): Promise<void> } | undefined;

  const closeAll = async () => {
    for (const t of timers) clearInterval(t);
    await control?.stop();
    await discovery?.close();
    await Promise.all(cams.map((c) => c.onvif?.stop()));
    await rtsp.close();
  };

  try {
    for (const [i, c] of cams.entries()) {
      const pub = c.pub;
      pub.rtspMain = `rtsp://${host}:${rtsp.port}/${c.id}/main`;
      pub.rtspSub = `rtsp://${host}:${rtsp.port}/${c.id}/sub`;
      c.onvif = startOnvif(
        {
          id: c.id,
          name: c.name,
          serial: `CAMSIM-${String(i + 1).padStart(4, "0")}`,
          audio,
          audioCodec,
          codec,
          rtspUrl: (p) => (p === "main" ? pub.rtspMain : pub.rtspSub),
          spec: (p) => pub[p],
          running: () => c.running,
          events: c.events,
          snapshot: () => snapshot(c),
        },
        {
          host,
          port: opts.onvifBasePort ? opts.onvifBasePort + i : 0,
          user,
          password,
          clock: { now: () => clock.now() + c.clockOffsetMs },
          log: log.child({ component: "camsim.onvif", camera: c.id }),
          maxPullWaitMs: opts.maxPullWaitMs ?? 60_000,
        },
      );
      pub.onvifUrl = c.onvif.deviceUrl;
      pub.onvifPort = c.onvif.port;
      pub.snapshotUrl = c.onvif.snapshotUrl;
    }
    if (opts.discoveryPort !== null) {
      discovery = await startDiscovery(host, opts.discoveryPort ?? 0, () =>
        cams.map((c) => ({ endpoint: c.pub.endpoint, xaddr: c.pub.onvifUrl, name: c.name })),
      );
    }
  } catch (e) {
    await closeAll();
    throw e;
  }

  async function snapshot(c: Cam): Promise<Uint8Array<ArrayBuffer>> {
    const now = clock.now();
    if (c.snapCache && now - c.snapCache.at < 1000) return c.snapCache.jpeg;
    const jpeg = await renderSnapshot(c.name, c.pub.sub.width, c.pub.sub.height, pattern);
    c.snapCache = { at: now, jpeg };
    return jpeg;
  }

  const get = (id: string): Cam => {
    const c = cams.find((x) => x.id === id);
    if (!c) throw new CamsimError(`no camera '${id}' (cameras: ${cams.map((x) => x.id).join(", ")})`, 404);
    return c;
  };
  const refresh = (c: Cam) => {
    c.pub.state = !c.running ? "stopped" : c.stalled ? "stalled" : "running";
  };
  // Faults on one camera run one after another so a restart and a stop cannot interleave.
  const serial = <T>(c: Cam, fn: () => Promise<T>): Promise<T> => {
    const p = c.busy.then(fn, fn);
    c.busy = p.catch(() => {});
    return p;
  };
  const clog = (c: Cam) => log.child({ camera: c.id });

  const sim: Camsim = {
    cameras: cams.map((c) => c.pub),
    controlUrl: "",
    rtspPort: rtsp.port,
    rtspPid: rtsp.pid,
    discoveryPort: discovery?.port ?? null,
    user,
    password,
    camera: (id) => get(id).pub,
    stop: (id) => {
      const c = get(id);
      return serial(c, async () => {
        await rtsp.send({ cmd: "stop", camera: c.id });
        c.running = false;
        refresh(c);
        clog(c).info("camera stopped");
      });
    },
    start: (id) => {
      const c = get(id);
      return serial(c, async () => {
        await rtsp.send({ cmd: "start", camera: c.id });
        c.running = true;
        refresh(c);
        clog(c).info("camera started");
      });
    },
    stall: (id) => {
      const c = get(id);
      return serial(c, async () => {
        await rtsp.send({ cmd: "stall", camera: c.id });
        c.stalled = true;
        refresh(c);
        clog(c).info("camera stalled");
      });
    },
    resume: (id) => {
      const c = get(id);
      return serial(c, async () => {
        await rtsp.send({ cmd: "resume", camera: c.id });
        c.stalled = false;
        refresh(c);
        clog(c).info("camera resumed");
      });
    },
    restart: (id, delayMs = 2000) => {
      const c = get(id);
      if (!Number.isInteger(delayMs) || delayMs < 0 || delayMs > 600_000) throw new CamsimError(`delayMs must be an integer 0..600000, got ${delayMs}`);
      return serial(c, async () => {
        await rtsp.send({ cmd: "stop", camera: c.id });
        await rtsp.send({ cmd: "resume", camera: c.id });
        c.running = false;
        c.stalled = false;
        refresh(c);
        clog(c).info("camera restarting", { delayMs });
        await Bun.sleep(delayMs);
        await rtsp.send({ cmd: "start", camera: c.id });
        c.running = true;
        refresh(c);
        clog(c).info("camera back after restart");
      });
    },
    setResolution: (id, width, height) => {
      const c = get(id);
      validateSpec({ ...c.pub.main, width, height }, "resolution");
      return serial(c, async () => {
        await rtsp.send({ cmd: "resolution", camera: c.id, width, height });
        c.pub.main = { ...c.pub.main, width, height };
        clog(c).info("main stream resolution changed", { width, height });
      });
    },
    jump: (id, seconds) => {
      const c = get(id);
      if (!Number.isFinite(seconds) || seconds < -3600 || seconds > 3600) throw new CamsimError(`seconds must be a number -3600..3600, got ${seconds}`);
      return serial(c, async () => {
        await rtsp.send({ cmd: "jump", camera: c.id, seconds });
        clog(c).info("RTP timestamps jumped", { seconds });
      });
    },
    setClockRate: (id, rate) => {
      const c = get(id);
      if (!Number.isFinite(rate) || rate < 0.5 || rate > 1) throw new CamsimError(`rate must be a number 0.5..1, got ${rate}`);
      return serial(c, async () => {
        await rtsp.send({ cmd: "rate", camera: c.id, rate });
        clog(c).info("media clock rate changed", { rate });
      });
    },
    clockStep: (id, seconds) => {
      const c = get(id);
      if (!Number.isFinite(seconds) || seconds < -3600 || seconds > 3600) throw new CamsimError(`seconds must be a number -3600..3600, got ${seconds}`);
      return serial(c, async () => {
        await rtsp.send({ cmd: "jump", camera: c.id, seconds });
        c.clockOffsetMs += seconds * 1000;
        clog(c).info("host clock stepped", { seconds });
      });
    },
    emitEvent: (id, ev) => {
      const c = get(id);
      if (ev.type !== "motion" && ev.type !== "input") throw new CamsimError(`event type must be "motion" or "input", got ${String(ev.type)}`);
      if (typeof ev.state !== "boolean") throw new CamsimError("event state must be a boolean");
      c.events.emit(ev.type, ev.state);
      clog(c).debug("event", { type: ev.type, state: ev.state });
    },
    scheduleActivity: (id, windows, o = {}) => {
      const c = get(id);
      for (const w of windows) {
        if (!Number.isSafeInteger(w.fromMs) || !Number.isSafeInteger(w.toMs) || w.toMs <= w.fromMs || w.toMs - w.fromMs > 86_400_000) {
          throw new CamsimError(`activity windows need integer fromMs < toMs (at most a day long), got ${JSON.stringify(w)}`);
        }
      }
      return serial(c, async () => {
        await rtsp.send({ cmd: "activity", camera: c.id, windows: windows.map((w) => [w.fromMs, w.toMs]) });
        if (o.onvifMotion) {
          for (const w of windows) {
            const at = (ms: number, state: boolean) =>
              pending.add(setTimeout(() => c.running && c.events.emit("motion", state), Math.max(0, ms - clock.now())));
            at(w.fromMs, true);
            at(w.toMs, false);
          }
        }
        clog(c).info("activity scheduled", { windows: windows.length, onvifMotion: !!o.onvifMotion });
      });
    },
    close: async () => {
      for (const t of pending) clearTimeout(t);
      await closeAll();
    },
  };

  if (opts.motionEveryMs) {
    if (!Number.isInteger(opts.motionEveryMs) || opts.motionEveryMs < 100) {
      await closeAll();
      throw new CamsimError(`motionEveryMs must be an integer >= 100, got ${opts.motionEveryMs}`);
    }
    timers.push(setInterval(() => {
      for (const c of cams) if (c.running) c.events.emit("motion", !c.events.state.motion);
    }, opts.motionEveryMs));
  }

  try {
    control = startControl(sim, host, opts.controlPort ?? 0, log.child({ component: "camsim.control" }));
  } catch (e) {
    await closeAll();
    throw e;
  }
  sim.controlUrl = control.url;
  log.info("camsim ready", { cameras: n, rtspPort: rtsp.port, controlUrl: control.url, discoveryPort: discovery?.port });
  return sim;
}
