/**
 * SDP of a DESCRIBE answer, per media section: payload type, encoding, clock rate, fmtp
 * parameters and the control URL (resolved against the content base) that SETUP needs.
 */

export interface SdpMedia {
  kind: string;
  payloadType: number;
  /** Upper-case encoding name, e.g. H264, H265, MPEG4-GENERIC, PCMU. */
  encoding: string;
  clockRate: number;
  channels?: number;
  fmtp: Record<string, string>;
  control: string;
}

export function parseSdpMedia(sdp: string, base: string): SdpMedia[] {
  type Raw = SdpMedia & { rtpmaps: Map<number, string>; fmtps: Map<number, string> };
  const out: Raw[] = [];
  let sessionControl = "";
  let cur: Raw | undefined;
  for (const raw of sdp.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith("m=")) {
      const parts = line.slice(2).split(/\s+/);
      cur = { kind: parts[0] ?? "", payloadType: Number(parts[3] ?? -1), encoding: "", clockRate: 0, fmtp: {}, control: "", rtpmaps: new Map(), fmtps: new Map() };
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
    const map = m.rtpmaps.get(m.payloadType);
    const [enc, rate, ch] = (map ?? staticPayload(m.payloadType)).split("/");
    const fmtp: Record<string, string> = {};
    for (const kv of (m.fmtps.get(m.payloadType) ?? "").split(";")) {
      const i = kv.indexOf("=");
      if (i > 0) fmtp[kv.slice(0, i).trim().toLowerCase()] = kv.slice(i + 1).trim();
    }
    return {
      kind: m.kind,
      payloadType: m.payloadType,
      encoding: (enc ?? "").toUpperCase(),
      clockRate: Number(rate ?? 0),
      ...(ch ? { channels: Number(ch) } : {}),
      fmtp,
      control: resolveControl(sessionBase, m.control),
    };
  });
}

function staticPayload(pt: number): string {
  if (pt === 0) return "PCMU/8000/1";
  if (pt === 8) return "PCMA/8000/1";
  if (pt === 26) return "JPEG/90000";
  return `payload ${pt}/0`;
}

function resolveControl(base: string, control: string): string {
  if (!control || control === "*") return base;
  if (/^rtsp:\/\//i.test(control)) return control;
  return base.endsWith("/") ? base + control : `${base}/${control}`;
}
