/**
 * fMP4 samples → RTP packets, and the SDP that describes them. H.264 (RFC 6184, packetization
 * mode 1: single NAL units, FU-A above the MTU), H.265 (RFC 7798: single NAL units, FU), AAC
 * (RFC 3640 mpeg4-generic AAC-hbr, one AU per packet). The marker bit ends each video access
 * unit. Parameter sets are sent in band before every keyframe so players that ignore the SDP,
 * or join after a format change, can still decode.
 */
import type { Sample, TrackConfig, VideoConfig } from "./media.ts";
import { formatSdp } from "../../../lib/rtsp/index.ts";

/** RTP payload bytes per packet (fits an Ethernet MTU with IP/UDP/RTP headers). */
export const MAX_PAYLOAD = 1400;

const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
const hexOf = (b: Uint8Array) => Buffer.from(b).toString("hex");

export function payloadType(index: number): number {
  return 96 + index;
}

export function clockRate(t: TrackConfig): number {
  return t.kind === "video" ? 90000 : t.sampleRate;
}

/** Session description for these tracks; track i is controlled as `trackID=i`. */
export function sdpFor(tracks: readonly TrackConfig[], o: { sessionId: string; host: string; title: string }): string {
  return formatSdp({
    ...o,
    attributes: ["range:npt=now-"],
    media: tracks.map((t, i) => {
      const pt = payloadType(i);
      const control = `trackID=${i}`;
      if (t.kind === "audio") {
        const fmtp: [string, string][] = [["streamtype", "5"], ["profile-level-id", "1"], ["mode", "AAC-hbr"], ["sizelength", "13"], ["indexlength", "3"], ["indexdeltalength", "3"], ["config", hexOf(t.config)]];
        return { kind: "audio", payloadType: pt, rtpmap: `MPEG4-GENERIC/${t.sampleRate}/${t.channels}`, fmtp, control };
      }
      const attributes = t.width && t.height ? [`x-dimensions:${t.width},${t.height}`] : [];
      if (t.codec === "h264") {
        const sprop = [...t.sps, ...t.pps].map(b64).join(",");
        const fmtp: [string, string][] = [["packetization-mode", "1"], ...(t.profileLevelId ? [["profile-level-id", t.profileLevelId] as [string, string]] : []), ...(sprop ? [["sprop-parameter-sets", sprop] as [string, string]] : [])];
        return { kind: "video", payloadType: pt, rtpmap: "H264/90000", fmtp, control, attributes };
      }
      const fmtp = (["vps", "sps", "pps"] as const).filter((k) => t[k].length).map((k): [string, string] => [`sprop-${k}`, t[k].map(b64).join(",")]);
      return { kind: "video", payloadType: pt, rtpmap: "H265/90000", fmtp, control, attributes };
    }),
  });
}

/** One RTP stream of a session: sequence numbers, SSRC and timestamp base of its own. */
export class RtpTrack {
  seq = Math.floor(Math.random() * 0x10000);
  readonly ssrc = (Math.random() * 0x100000000) >>> 0;
  private readonly tsBase = Math.floor(Math.random() * 0x100000000);
  packets = 0;
  octets = 0;
  lastTs = 0;

  constructor(
    public config: TrackConfig,
    readonly pt: number,
    /** Interleaved channel for RTP (RTCP is channel + 1). */
    readonly channel: number,
  ) {}

  /** RTP timestamp of a presentation time given in the track's timescale. */
  timestamp(ptsTicks: number): number {
    const rate = clockRate(this.config);
    return (this.tsBase + Math.round((ptsTicks * rate) / this.config.timescale)) % 0x100000000;
  }

  /**
   * RTCP sender report mapping `ptsTicks` (the sample just sent) to wall-clock time, so players
   * can line up audio and video: every track of a session maps media time with the same
   * `epochMs` (Unix ms at media time 0).
   */
  senderReport(ptsTicks: number, epochMs: number): Uint8Array {
    const unixMs = epochMs + (ptsTicks * 1000) / this.config.timescale;
    const secs = Math.floor(unixMs / 1000);
    const frac = Math.floor(((unixMs - secs * 1000) / 1000) * 0x100000000);
    const r = new Uint8Array(28);
    const dv = new DataView(r.buffer);
    r[0] = 0x80;
    r[1] = 200;
    dv.setUint16(2, 6);
    dv.setUint32(4, this.ssrc);
    dv.setUint32(8, (secs + 2208988800) >>> 0);
    dv.setUint32(12, frac >>> 0);
    dv.setUint32(16, this.timestamp(ptsTicks));
    dv.setUint32(20, this.packets >>> 0);
    dv.setUint32(24, this.octets >>> 0);
    return r;
  }

  /** RTP packets (header + payload) for one sample, in order. */
  packetize(s: Sample): Uint8Array[] {
    const ts = this.timestamp(s.dts + s.cts);
    this.lastTs = ts;
    const payloads = this.config.kind === "video" ? videoPayloads(this.config, s) : aacPayloads(s.data);
    return payloads.map((p, i) => this.packet(p, ts, this.config.kind === "video" ? i === payloads.length - 1 : true));
  }

  private packet(payload: Uint8Array, ts: number, marker: boolean): Uint8Array {
    const pkt = new Uint8Array(12 + payload.length);
    const dv = new DataView(pkt.buffer);
    pkt[0] = 0x80;
    pkt[1] = (marker ? 0x80 : 0) | this.pt;
    dv.setUint16(2, this.seq);
    this.seq = (this.seq + 1) & 0xffff;
    dv.setUint32(4, ts);
    dv.setUint32(8, this.ssrc);
    pkt.set(payload, 12);
    this.packets++;
    this.octets += payload.length;
    return pkt;
  }
}

/** Splits a length-prefixed access unit into NAL units. */
export function nalUnits(data: Uint8Array, lengthSize: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let p = 0;
  while (p + lengthSize <= data.length) {
    let len = 0;
    for (let i = 0; i < lengthSize; i++) len = len * 256 + data[p + i]!;
    p += lengthSize;
    if (len === 0) continue;
    if (p + len > data.length) break; // truncated sample: send what is whole
    out.push(data.subarray(p, p + len));
    p += len;
  }
  return out;
}

function nalType(v: VideoConfig, nal: Uint8Array): number {
  return v.codec === "h264" ? nal[0]! & 0x1f : (nal[0]! >> 1) & 0x3f;
}

function videoPayloads(v: VideoConfig, s: Sample): Uint8Array[] {
  let nals = nalUnits(s.data, v.lengthSize);
  const spsType = v.codec === "h264" ? 7 : 33;
  if (s.sync && !nals.some((n) => nalType(v, n) === spsType)) nals = [...v.vps, ...v.sps, ...v.pps, ...nals];
  const out: Uint8Array[] = [];
  for (const nal of nals) {
    if (nal.length <= MAX_PAYLOAD) {
      out.push(nal);
      continue;
    }
    if (v.codec === "h264") {
      const indicator = (nal[0]! & 0xe0) | 28;
      const type = nal[0]! & 0x1f;
      for (let p = 1; p < nal.length; p += MAX_PAYLOAD - 2) {
        const end = Math.min(nal.length, p + MAX_PAYLOAD - 2);
        const fu = new Uint8Array(2 + end - p);
        fu[0] = indicator;
        fu[1] = (p === 1 ? 0x80 : 0) | (end === nal.length ? 0x40 : 0) | type;
        fu.set(nal.subarray(p, end), 2);
        out.push(fu);
      }
    } else {
      const type = (nal[0]! >> 1) & 0x3f;
      const h0 = (nal[0]! & 0x81) | (49 << 1);
      const h1 = nal[1]!;
      for (let p = 2; p < nal.length; p += MAX_PAYLOAD - 3) {
        const end = Math.min(nal.length, p + MAX_PAYLOAD - 3);
        const fu = new Uint8Array(3 + end - p);
        fu[0] = h0;
        fu[1] = h1;
        fu[2] = (p === 2 ? 0x80 : 0) | (end === nal.length ? 0x40 : 0) | type;
        fu.set(nal.subarray(p, end), 3);
        out.push(fu);
      }
    }
  }
  return out;
}

/** RFC 3640 AAC-hbr: AU-headers-length (16 bits), one 16-bit AU-header (13-bit size, 3-bit index). */
function aacPayloads(au: Uint8Array): Uint8Array[] {
  if (au.length >= 1 << 13) return []; // cannot be described with sizelength=13; never seen from an AAC encoder
  const p = new Uint8Array(4 + au.length);
  p[0] = 0;
  p[1] = 16;
  p[2] = (au.length >> 5) & 0xff;
  p[3] = (au.length & 0x1f) << 3;
  p.set(au, 4);
  return [p];
}
