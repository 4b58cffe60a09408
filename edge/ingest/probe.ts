/**
 * RTSP DESCRIBE probe: one short TCP exchange (with Basic or Digest auth) that tells, before
 * any pipeline starts, whether the camera answers, whether the credentials work, and which
 * codecs its SDP offers — so the pipeline can be built for the right codec and failures get
 * a precise reason instead of a guess from gst-launch's stderr.
 */
import { Authenticator, parseSdpMedia, pickChallenge } from "../../lib/rtsp/index.ts";
import { RtspConnection } from "./native/rtsp.ts";

export type VideoCodec = "h264" | "h265";
/** aac: RFC 3640 mpeg4-generic; latm: RFC 6416 MP4A-LATM; pcmu/pcma: G.711. */
export type AudioCodec = "aac" | "latm" | "pcmu" | "pcma";

export interface StreamDescription {
  /** Video codec if supported; undefined with `unsupportedVideo` set otherwise. */
  video?: VideoCodec;
  unsupportedVideo?: string;
  audio?: AudioCodec;
  unsupportedAudio?: string;
  /** Set by the engine once it has decided: whether the audio track goes into the recording. */
  audioRecorded?: boolean;
  /** Why audio is not recorded, or how it is (e.g. G.711 stored losslessly as FLAC). */
  audioDetail?: string;
  sdp: string;
}

/** Why a stream without H.264/H.265 video is not recorded, as the stream status shows it (e.g. MJPEG cameras). */
export function noVideoReason(desc: StreamDescription): string {
  return desc.unsupportedVideo
    ? `the camera sends ${desc.unsupportedVideo} video; Outpost records H.264 or H.265 (set the camera's encoder to one of them)`
    : "the stream offers no video track";
}

export type ProbeFailureReason = "camera-offline" | "auth-failed" | "unsupported-codec";

export class ProbeError extends Error {
  constructor(
    readonly reason: ProbeFailureReason,
    message: string,
  ) {
    super(message);
    this.name = "ProbeError";
  }
}

export interface ProbeOptions {
  url: string;
  user?: string;
  password?: string;
  timeoutMs?: number;
}

/** DESCRIBE the stream; throws ProbeError with a reason a person understands. */
export async function describeStream(opts: ProbeOptions): Promise<StreamDescription> {
  const u = parseRtspUrl(opts.url);
  const user = opts.user ?? u.user;
  const password = opts.password ?? u.password;
  const timeoutMs = opts.timeoutMs ?? 5000;
  const conn = await RtspConnection.open(u.host, u.port, timeoutMs);
  try {
    const accept = { Accept: "application/sdp" };
    let res = await conn.request("DESCRIBE", u.cleanUrl, accept, timeoutMs);
    if (res.status === 401) {
      if (user === undefined || password === undefined) {
        throw new ProbeError("auth-failed", `camera requires credentials (401 Unauthorized) at ${u.cleanUrl}`);
      }
      conn.auth = new Authenticator(pickChallenge(res.headers.all("www-authenticate")) ?? "", { user, password });
      res = await conn.request("DESCRIBE", u.cleanUrl, accept, timeoutMs);
      if (res.status === 401) {
        throw new ProbeError("auth-failed", `camera refused the credentials for user '${user}' (401 Unauthorized)`);
      }
    }
    if (res.status === 404) throw new ProbeError("camera-offline", `stream not found on the camera (404) at ${u.cleanUrl}`);
    if (res.status === 503) throw new ProbeError("camera-offline", `camera cannot serve the stream now (503) at ${u.cleanUrl}`);
    if (res.status !== 200) throw new ProbeError("camera-offline", `camera answered ${res.status} ${res.statusText} to DESCRIBE`);
    const desc = parseSdp(res.body);
    if (!desc.video) throw new ProbeError("unsupported-codec", noVideoReason(desc));
    return desc;
  } finally {
    conn.close();
  }
}

/** Which codecs the SDP offers (the first video and audio sections decide). */
export function parseSdp(sdp: string): StreamDescription {
  const out: StreamDescription = { sdp };
  for (const { kind, encoding: enc } of parseSdpMedia(sdp, "")) {
    if (kind === "video" && !out.video) {
      if (enc === "H264") out.video = "h264";
      else if (enc === "H265" || enc === "HEVC") out.video = "h265";
      else out.unsupportedVideo ??= enc;
    } else if (kind === "audio" && !out.audio) {
      if (enc === "MPEG4-GENERIC") out.audio = "aac";
      else if (enc === "MP4A-LATM") out.audio = "latm";
      else if (enc === "PCMU") out.audio = "pcmu";
      else if (enc === "PCMA") out.audio = "pcma";
      else out.unsupportedAudio ??= enc;
    }
  }
  if (out.video) delete out.unsupportedVideo;
  return out;
}

export interface RtspUrl {
  host: string;
  port: number;
  user?: string;
  password?: string;
  /** URL without credentials. */
  cleanUrl: string;
}

export function parseRtspUrl(url: string): RtspUrl {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ProbeError("camera-offline", `not a valid RTSP URL: ${url}`);
  }
  if (u.protocol !== "rtsp:") throw new ProbeError("camera-offline", `only rtsp:// URLs are supported, got ${u.protocol}//`);
  const user = u.username ? decodeURIComponent(u.username) : undefined;
  const password = u.password ? decodeURIComponent(u.password) : undefined;
  u.username = "";
  u.password = "";
  return { host: u.hostname.replace(/^\[|\]$/g, ""), port: u.port ? Number(u.port) : 554, user, password, cleanUrl: u.toString() };
}
