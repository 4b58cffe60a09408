/**
 * One native recording session: RTSP over TCP (DESCRIBE with auth, SETUP per track with
 * interleaved channels, PLAY, keep-alive, TEARDOWN) → RTP depacketizers → Fragmenter, all in
 * this process. Failures become ProbeError-style reasons (auth-failed, camera-offline,
 * unsupported-codec) in `done`.
 */
import { ProbeError, noVideoReason, parseRtspUrl, parseSdp, type StreamDescription } from "../probe.ts";
import type { IngestSession, SessionParams } from "../source.ts";
import type { GapReason } from "../../../lib/store/types.ts";
import { base64Bytes } from "./codec.ts";
import { audioPath, type AudioPath } from "./audio-path.ts";
import { Fragmenter } from "./fragmenter.ts";
import { FragmentPool, releaseFragment } from "../../../lib/mp4/index.ts";
import { VideoDepacketizer, parseRtp } from "./rtp.ts";
import { RtspConnection, type RtspResponse } from "./rtsp.ts";
import { readBatcher } from "./read-batch.ts";
import { startMark } from "../../../lib/starttrace.ts";
import { Authenticator, parseRtpInfo, parseSdpMedia, parseSession, pickChallenge, type SdpMedia } from "../../../lib/rtsp/index.ts";

const REQUEST_TIMEOUT_MS = 5000;

type End = { reason: GapReason; detail: string };

export class NativeSession implements IngestSession {
  readonly done: Promise<End>;
  private conn: RtspConnection | undefined;
  private killed = false;
  private keepAlive: ReturnType<typeof setInterval> | undefined;
  private fragmenter: Fragmenter | undefined;
  private sessionUrl = "";
  private resolveEnd!: (e: End) => void;
  private ended = false;

  constructor(private readonly p: SessionParams) {
    this.done = new Promise<End>((r) => (this.resolveEnd = r));
    this.run().catch((e) => this.finish(e instanceof ProbeError ? { reason: e.reason, detail: e.message } : { reason: "crash", detail: `native ingest failed: ${(e as Error).message}` }));
  }

  kill(): void {
    if (this.killed) return;
    this.killed = true;
    const c = this.conn;
    if (c && !c.isClosed && this.sessionUrl && c.session) c.send("TEARDOWN", this.sessionUrl);
    this.finish({ reason: "stopped", detail: "recorder stopped the session" });
  }

  private finish(e: End): void {
    if (this.ended) return;
    this.ended = true;
    if (this.keepAlive) clearInterval(this.keepAlive);
    try {
      this.fragmenter?.flushAll();
    } catch {
      // a half-built last fragment is not worth a crash report
    }
    this.conn?.close();
    this.resolveEnd(e);
  }

  private async run(): Promise<void> {
    const u = parseRtspUrl(this.p.url);
    const user = this.p.user ?? u.user;
    const password = this.p.password ?? u.password;
    const timeout = Math.min(this.p.connectTimeoutMs, REQUEST_TIMEOUT_MS);
    startMark("rtsp connect");
    const conn = await RtspConnection.open(u.host, u.port, timeout);
    startMark("rtsp connected");
    this.conn = conn;
    if (this.killed) return conn.close();
    // The stall watchdog is fed by video RTP only (below): RTCP reports and keep-alive answers
    // keep flowing while a camera sends no pictures, and must not hide the stall.
    conn.onClose = (why) => this.finish({ reason: "camera-offline", detail: why });

    let res = await conn.request("DESCRIBE", u.cleanUrl, { Accept: "application/sdp" }, timeout);
    if (res.status === 401) {
      if (user === undefined || password === undefined) throw new ProbeError("auth-failed", `camera requires credentials (401 Unauthorized) at ${u.cleanUrl}`);
      conn.auth = new Authenticator(pickChallenge(res.headers.all("www-authenticate")) ?? "", { user, password });
      res = await conn.request("DESCRIBE", u.cleanUrl, { Accept: "application/sdp" }, timeout);
      if (res.status === 401) throw new ProbeError("auth-failed", `camera refused the credentials for user '${user}' (401 Unauthorized)`);
    }
    expectOk(res, "DESCRIBE", u.cleanUrl);
    startMark("rtsp DESCRIBE answered");
    const desc: StreamDescription = parseSdp(res.body);
    if (!desc.video) {
      this.p.handlers.described(desc);
      throw new ProbeError("unsupported-codec", noVideoReason(desc));
    }
    const base = res.headers.get("content-base") ?? res.headers.get("content-location") ?? u.cleanUrl;
    const media = parseSdpMedia(res.body, base);
    const video = media.find((m) => m.kind === "video" && (m.encoding === "H264" || m.encoding === "H265" || m.encoding === "HEVC"))!;
    const audioMedia = media.find((m) => m.kind === "audio");
    let audio: AudioPath | undefined;
    if (audioMedia) {
      try {
        audio = audioPath(audioMedia);
        desc.audioRecorded = true;
        if (audio.note) desc.audioDetail = audio.note;
      } catch (e) {
        desc.audioRecorded = false;
        desc.audioDetail = (e as Error).message;
        this.p.log.info("audio track not recorded", { audio: audioMedia.encoding, why: desc.audioDetail });
      }
    }
    this.p.handlers.described(desc);

    const codec = video.encoding === "H264" ? "h264" : "h265";
    const sprop = codec === "h264" ? (video.fmtp["sprop-parameter-sets"] ?? "").split(",").filter(Boolean).map(base64Bytes) : [];
    const one = (k: string) => (video.fmtp[k] ? [base64Bytes(video.fmtp[k]!)] : undefined);
    let batching = false;
    const frag = new Fragmenter({
      codec,
      ...(codec === "h264"
        ? { sps: sprop.filter((n) => (n[0]! & 0x1f) === 7), pps: sprop.filter((n) => (n[0]! & 0x1f) === 8) }
        : { vps: one("sprop-vps"), sps: one("sprop-sps"), pps: one("sprop-pps") }),
      ...(audio ? { audio: audio.config } : {}),
      now: () => this.p.clock.now(),
      onInit: (bytes, info, change) => {
        startMark("first keyframe");
        this.p.handlers.init(bytes, info, change);
      },
      onFragment: (bytes, info) => {
        startMark("first fragment cut");
        // Batched reads from the session's first fragment on: until then every read counts
        // towards recording (re)starting (after a crash, a camera's return), so none is held.
        if (this.p.readBatchMs && !batching) {
          batching = true;
          conn.batchReads(readBatcher(this.p.readBatchMs));
        }
        // The store's writer and the live hub are done with the buffer (or hold it) once this settles.
        this.p.handlers
          .fragment(bytes, info)
          .catch(() => undefined)
          .finally(() => releaseFragment(bytes));
      },
      onWarn: (msg, f) => this.p.log.warn(msg, f),
      releaseNal: (nal) => vdepay.release(nal),
      pool: new FragmentPool(),
    });
    this.fragmenter = frag;

    const vdepay = new VideoDepacketizer(codec);
    vdepay.onAccessUnit = (au) => frag.video(au);
    const adepay = audio?.depacketizer((f) => frag.audio(f));
    const aac = audio?.media;

    let videoSsrc: number | undefined;
    conn.onFrame = (ch, payload) => {
      if (ch & 1) return; // RTCP: timing comes from RTP-Info; nothing else is needed
      const pkt = parseRtp(payload);
      if (!pkt) return;
      try {
        if (ch === 0) {
          if (videoSsrc !== undefined && pkt.ssrc !== videoSsrc) frag.discontinuity("camera changed its RTP source (SSRC): new recording session");
          if (videoSsrc === undefined) startMark("first video RTP");
          videoSsrc = pkt.ssrc;
          this.p.handlers.activity();
          vdepay.push(pkt);
        } else if (ch === 2) adepay?.push(pkt);
      } catch (e) {
        this.finish({ reason: "crash", detail: `native ingest could not read the stream: ${(e as Error).message}` });
      }
    };

    let timeoutS = 60;
    const tracks: [SdpMedia, number][] = [[video, 0]];
    if (aac) tracks.push([aac, 2]);
    for (const [m, ch] of tracks) {
      const r = await conn.request("SETUP", m.control, { Transport: `RTP/AVP/TCP;unicast;interleaved=${ch}-${ch + 1}` }, timeout);
      expectOk(r, "SETUP", m.control);
      const s = r.headers.get("session");
      if (!s) throw new ProbeError("camera-offline", "camera answered SETUP without a Session header");
      const session = parseSession(s);
      conn.session = session.id;
      if (session.timeoutS !== undefined) timeoutS = session.timeoutS;
    }
    startMark("rtsp SETUP answered");
    this.sessionUrl = base;
    const play = await conn.request("PLAY", base, { Range: "npt=0.000-" }, timeout);
    expectOk(play, "PLAY", base);
    startMark("rtsp PLAY answered");
    const info = parseRtpInfo(play.headers.get("rtp-info") ?? "");
    const rt = (m: SdpMedia | undefined) => (m ? info.find((i) => i.url === m.control || m.control.endsWith(i.url) || i.url.endsWith(m.control.split("/").pop()!))?.rtptime : undefined);
    frag.anchor(rt(video), rt(aac));
    const every = Math.max(1000, (timeoutS * 1000) / 2);
    this.keepAlive = setInterval(() => conn.send("OPTIONS", base), every);
    if (this.killed) conn.close();
  }
}

function expectOk(res: RtspResponse, method: string, url: string): void {
  if (res.status === 200) return;
  if (res.status === 401) throw new ProbeError("auth-failed", `camera refused the credentials (401 Unauthorized) for ${method}`);
  if (res.status === 404) throw new ProbeError("camera-offline", `stream not found on the camera (404) at ${url}`);
  if (res.status === 503) throw new ProbeError("camera-offline", `camera cannot serve the stream now (503) at ${url}`);
  if (res.status === 461) throw new ProbeError("camera-offline", `camera does not offer RTP over TCP (461 Unsupported Transport) at ${url}`);
  throw new ProbeError("camera-offline", `camera answered ${res.status} ${res.statusText} to ${method}`);
}

export function nativeSession(p: SessionParams): IngestSession {
  return new NativeSession(p);
}
