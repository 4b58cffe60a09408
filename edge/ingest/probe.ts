/**
 * RTSP DESCRIBE probe: one short TCP exchange (with Basic or Digest auth) that tells, before
 * any pipeline starts, whether the camera answers, whether the credentials work, and which
 * codecs its SDP offers — so the pipeline can be built for the right codec and failures get
 * a precise reason instead of a guess from gst-launch's stderr.
 */
import net from "node:net";
import { createHash } from "node:crypto";

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

interface RtspResponse {
  status: number;
  statusText: string;
  headers: Record<string, string>;
  body: string;
}

/** DESCRIBE the stream; throws ProbeError with a reason a person understands. */
export async function describeStream(opts: ProbeOptions): Promise<StreamDescription> {
  const u = parseRtspUrl(opts.url);
  const user = opts.user ?? u.user;
  const password = opts.password ?? u.password;
  const timeoutMs = opts.timeoutMs ?? 5000;
  const conn = await RtspConnection.open(u.host, u.port, timeoutMs);
  try {
    let res = await conn.request("DESCRIBE", u.cleanUrl, {});
    if (res.status === 401) {
      const challenge = res.headers["www-authenticate"] ?? "";
      if (user === undefined || password === undefined) {
        throw new ProbeError("auth-failed", `camera requires credentials (401 Unauthorized) at ${u.cleanUrl}`);
      }
      res = await conn.request("DESCRIBE", u.cleanUrl, {
        Authorization: authorization(challenge, "DESCRIBE", u.cleanUrl, user, password),
      });
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

export function parseSdp(sdp: string): StreamDescription {
  const out: StreamDescription = { sdp };
  let media = "";
  const payloads = new Map<string, string>(); // `${media}:${pt}` → encoding
  const mediaPts: { media: string; pts: string[] }[] = [];
  for (const raw of sdp.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith("m=")) {
      const parts = line.slice(2).split(/\s+/);
      media = parts[0] ?? "";
      mediaPts.push({ media, pts: parts.slice(3) });
    } else if (line.startsWith("a=rtpmap:")) {
      const m = /^a=rtpmap:(\d+)\s+([^/\s]+)/.exec(line);
      if (m) payloads.set(`${media}:${m[1]}`, m[2]!.toUpperCase());
    }
  }
  for (const { media: kind, pts } of mediaPts) {
    const pt = pts[0];
    if (pt === undefined) continue;
    // Static payload types have no rtpmap line.
    const enc = payloads.get(`${kind}:${pt}`) ?? (pt === "0" ? "PCMU" : pt === "8" ? "PCMA" : pt === "26" ? "JPEG" : `payload ${pt}`);
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

function md5(s: string): string {
  return createHash("md5").update(s).digest("hex");
}

function authorization(challenge: string, method: string, uri: string, user: string, password: string): string {
  if (/^\s*digest/i.test(challenge)) {
    const p: Record<string, string> = {};
    for (const m of challenge.matchAll(/(\w+)=(?:"([^"]*)"|([^,\s]*))/g)) p[m[1]!.toLowerCase()] = m[2] ?? m[3] ?? "";
    const realm = p.realm ?? "";
    const nonce = p.nonce ?? "";
    const response = md5(`${md5(`${user}:${realm}:${password}`)}:${nonce}:${md5(`${method}:${uri}`)}`);
    return `Digest username="${user}", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${response}"`;
  }
  return `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
}

class RtspConnection {
  private buf = Buffer.alloc(0);
  private cseq = 1;
  private waiter: (() => void) | null = null;
  private error: Error | null = null;

  private constructor(
    private sock: net.Socket,
    private timeoutMs: number,
  ) {
    sock.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiter?.();
    });
    sock.on("error", (e) => {
      this.error = e;
      this.waiter?.();
    });
    sock.on("close", () => {
      this.error ??= new Error("connection closed by the camera");
      this.waiter?.();
    });
  }

  static open(host: string, port: number, timeoutMs: number): Promise<RtspConnection> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host, port });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new ProbeError("camera-offline", `camera ${host}:${port} did not accept a connection within ${timeoutMs} ms`));
      }, timeoutMs);
      sock.once("connect", () => {
        clearTimeout(timer);
        resolve(new RtspConnection(sock, timeoutMs));
      });
      sock.once("error", (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new ProbeError("camera-offline", `camera ${host}:${port} unreachable (${e.code ?? e.message})`));
      });
    });
  }

  async request(method: string, url: string, headers: Record<string, string>): Promise<RtspResponse> {
    const lines = [`${method} ${url} RTSP/1.0`, `CSeq: ${this.cseq++}`, "Accept: application/sdp", "User-Agent: outpost-edge"];
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    this.sock.write(lines.join("\r\n") + "\r\n\r\n");
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const res = this.tryParse();
      if (res) return res;
      if (this.error) throw new ProbeError("camera-offline", `RTSP ${method} failed: ${this.error.message}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new ProbeError("camera-offline", `camera did not answer RTSP ${method} within ${this.timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          this.waiter = null;
          resolve();
        };
      });
    }
  }

  private tryParse(): RtspResponse | null {
    const end = this.buf.indexOf("\r\n\r\n");
    if (end < 0) return null;
    const head = this.buf.subarray(0, end).toString("latin1").split("\r\n");
    const status = /^RTSP\/1\.\d\s+(\d+)\s*(.*)$/.exec(head[0] ?? "");
    if (!status) throw new ProbeError("camera-offline", `not an RTSP answer: ${JSON.stringify(head[0] ?? "")}`);
    const headers: Record<string, string> = {};
    for (const h of head.slice(1)) {
      const i = h.indexOf(":");
      if (i > 0) {
        const k = h.slice(0, i).trim().toLowerCase();
        const v = h.slice(i + 1).trim();
        // Several WWW-Authenticate headers: prefer Digest, which real cameras expect.
        if (k === "www-authenticate" && headers[k] && !/^digest/i.test(v)) continue;
        headers[k] = v;
      }
    }
    const len = Number(headers["content-length"] ?? 0);
    if (this.buf.length < end + 4 + len) return null;
    const body = this.buf.subarray(end + 4, end + 4 + len).toString("utf8");
    this.buf = this.buf.subarray(end + 4 + len);
    return { status: Number(status[1]), statusText: status[2] ?? "", headers, body };
  }

  close(): void {
    this.sock.destroy();
  }
}
