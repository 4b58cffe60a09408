/**
 * SDP (RFC 4566) as RTSP uses it: a DESCRIBE answer read per media section (payload type,
 * encoding, clock rate, fmtp parameters, control URL resolved against the content base, RFC
 * 2326 §C.1.1), and built from the same shape for RTSP out. Only what RTSP needs; unknown
 * lines are skipped.
 */

export interface SdpMedia {
  /** video, audio, application, … */
  kind: string;
  payloadType: number;
  /** Upper-case encoding name, e.g. H264, H265, MPEG4-GENERIC, PCMU. */
  encoding: string;
  clockRate: number;
  channels?: number;
  /** fmtp parameters, names lower case. */
  fmtp: Record<string, string>;
  /** Absolute control URL (SETUP's target). */
  control: string;
}

/** Media sections in order; the first payload type of each is the one described. */
export function parseSdpMedia(sdp: string, base: string): SdpMedia[] {
  type Raw = { kind: string; payloadType: number; control: string; rtpmaps: Map<number, string>; fmtps: Map<number, string> };
  const out: Raw[] = [];
  let sessionControl = "";
  let cur: Raw | undefined;
  for (const raw of sdp.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith("m=")) {
      const parts = line.slice(2).split(/\s+/);
      cur = { kind: parts[0] ?? "", payloadType: Number(parts[3] ?? -1), control: "", rtpmaps: new Map(), fmtps: new Map() };
      out.push(cur);
    } else if (line.startsWith("a=control:")) {
      const v = line.slice("a=control:".length).trim();
      if (cur) cur.control = v;
      else sessionControl = v;
    } else if (cur && line.startsWith("a=rtpmap:")) {
      const m = /^a=rtpmap:(\d+)\s+(.+)$/.exec(line);
      if (m) cur.rtpmaps.set(Number(m[1]), m[2]!);
    } else if (cur && line.startsWith("a=fmtp:")) {
      const m = /^a=fmtp:(\d+)\s+(.*)$/.exec(line);
      if (m) cur.fmtps.set(Number(m[1]), m[2]!);
    }
  }
  const sessionBase = resolveControl(base, sessionControl);
  return out.map((m) => {
    const [enc, rate, ch] = (m.rtpmaps.get(m.payloadType) ?? staticPayload(m.payloadType)).split("/");
    const fmtp: Record<string, string> = Object.create(null);
    for (const kv of (m.fmtps.get(m.payloadType) ?? "").split(";")) {
      const i = kv.indexOf("=");
      if (i > 0) fmtp[kv.slice(0, i).trim().toLowerCase()] = kv.slice(i + 1).trim();
    }
    return {
      kind: m.kind,
      payloadType: m.payloadType,
      encoding: (enc ?? "").trim().toUpperCase(),
      clockRate: Number(rate ?? 0),
      ...(ch ? { channels: Number(ch) } : {}),
      fmtp,
      control: resolveControl(sessionBase, m.control),
    };
  });
}

/** RFC 3551's static payload types that cameras send without an rtpmap line. */
function staticPayload(pt: number): string {
  if (pt === 0) return "PCMU/8000/1";
  if (pt === 8) return "PCMA/8000/1";
  if (pt === 26) return "JPEG/90000";
  return `payload ${pt}/0`;
}

function resolveControl(base: string, control: string): string {
  if (!control || control === "*") return base;
  if (/^rtsps?:\/\//i.test(control)) return control;
  return base.endsWith("/") ? base + control : `${base}/${control}`;
}

export interface SdpSession {
  sessionId: string;
  /** Origin address (IPv4). */
  host: string;
  title: string;
  /** Session-level attributes after a=control:* (e.g. "range:npt=now-"). */
  attributes?: string[];
  media: {
    kind: string;
    payloadType: number;
    /** rtpmap's "encoding/clock[/channels]". */
    rtpmap: string;
    /** fmtp parameters in order; omitted when empty. */
    fmtp?: [string, string][];
    /** Relative control, e.g. trackID=0. */
    control: string;
    attributes?: string[];
  }[];
}

/** The SDP text; line breaks in any value are replaced by spaces, so no field can add a line. */
export function formatSdp(s: SdpSession): string {
  const v = (x: string | number) => String(x).replace(/[\r\n\0]/g, " ");
  const lines = ["v=0", `o=- ${v(s.sessionId)} 1 IN IP4 ${v(s.host)}`, `s=${v(s.title)}`, "c=IN IP4 0.0.0.0", "t=0 0", "a=tool:Outpost", "a=control:*", ...(s.attributes ?? []).map((a) => `a=${v(a)}`)];
  for (const m of s.media) {
    lines.push(`m=${v(m.kind)} 0 RTP/AVP ${m.payloadType}`, `a=rtpmap:${m.payloadType} ${v(m.rtpmap)}`);
    if (m.fmtp?.length) lines.push(`a=fmtp:${m.payloadType} ${m.fmtp.map(([k, x]) => `${v(k)}=${v(x)}`).join(";")}`);
    for (const a of m.attributes ?? []) lines.push(`a=${v(a)}`);
    lines.push(`a=control:${v(m.control)}`);
  }
  return lines.join("\r\n") + "\r\n";
}
