/**
 * Audio that cameras send and MP4 in a browser cannot carry as is, made recordable without loss:
 *
 * - G.711 (PCMU/PCMA, RFC 3551): ISO BMFF has `ulaw`/`alaw` sample entries and ffmpeg reads
 *   them, but Chromium's MP4 parser rejects them (MediaSource.isTypeSupported('…ulaw') is false,
 *   and an init segment holding one fails as a whole, video included). G.711 is companded
 *   linear PCM: each byte expands exactly (a table) to a 16-bit sample, written here as FLAC
 *   (verbatim subframes: no prediction, lossless, trivially cheap), which ffmpeg and Chromium
 *   both play from fMP4. The recording holds exactly the camera's samples.
 * - MP4A-LATM (RFC 6416): the AudioSpecificConfig is inside the SDP's StreamMuxConfig, and
 *   each RTP payload is PayloadLengthInfo + the raw AAC frame: the frames go into `mp4a` as is.
 */
import { BitReader, type AacConfig } from "./codec.ts";

/** One G.711 byte → 16-bit linear sample (ITU-T G.711; μ-law values are multiples of 4, A-law of 8). */
export function ulawToLinear(u: number): number {
  u = ~u & 0xff;
  const t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
  return u & 0x80 ? 0x84 - t : t - 0x84;
}

export function alawToLinear(a: number): number {
  a ^= 0x55;
  let t = (a & 0x0f) << 4;
  const seg = (a & 0x70) >> 4;
  if (seg === 0) t += 8;
  else {
    t += 0x108;
    if (seg > 1) t <<= seg - 1;
  }
  return a & 0x80 ? t : -t;
}

const ULAW = Int16Array.from({ length: 256 }, (_, i) => ulawToLinear(i));
const ALAW = Int16Array.from({ length: 256 }, (_, i) => alawToLinear(i));

class BitWriter {
  private readonly out: number[] = [];
  private acc = 0;
  private n = 0;
  bits(v: number, count: number): void {
    for (let i = count - 1; i >= 0; i--) {
      this.acc = (this.acc << 1) | (Math.floor(v / 2 ** i) & 1);
      if (++this.n === 8) {
        this.out.push(this.acc);
        this.acc = 0;
        this.n = 0;
      }
    }
  }
  bytes(): number[] {
    if (this.n) this.bits(0, 8 - this.n);
    return this.out;
  }
}

function crc8(b: ArrayLike<number>): number {
  let c = 0;
  for (let i = 0; i < b.length; i++) {
    c ^= b[i]!;
    for (let k = 0; k < 8; k++) c = c & 0x80 ? ((c << 1) ^ 0x07) & 0xff : (c << 1) & 0xff;
  }
  return c;
}

function crc16(b: ArrayLike<number>): number {
  let c = 0;
  for (let i = 0; i < b.length; i++) {
    c ^= b[i]! << 8;
    for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x8005) & 0xffff : (c << 1) & 0xffff;
  }
  return c;
}

/** FLAC's UTF-8-like coding of a frame's first sample number (variable block size). */
function utf8Number(v: number): number[] {
  if (v < 0x80) return [v];
  const out: number[] = [];
  let bytes = 2;
  while (v >= 2 ** (5 * bytes + 1)) bytes++;
  for (let i = bytes - 1; i > 0; i--) {
    out.unshift(0x80 | (v % 64));
    v = Math.floor(v / 64);
  }
  out.unshift(((0xff00 >> bytes) & 0xff) | v);
  return out;
}

const FLAC_RATES: Record<number, number> = { 88200: 1, 176400: 2, 192000: 3, 8000: 4, 16000: 5, 22050: 6, 24000: 7, 32000: 8, 44100: 9, 48000: 10, 96000: 11 };
export const FLAC_MAX_BLOCK = 65535;

/**
 * G.711 payloads → FLAC frames (16-bit mono, variable block size: one frame per RTP packet).
 * `sample` is the running sample number the frame header carries.
 */
export class G711ToFlac {
  private sample = 0;
  private readonly table: Int16Array;
  constructor(
    law: "pcmu" | "pcma",
    readonly sampleRate: number,
  ) {
    this.table = law === "pcmu" ? ULAW : ALAW;
  }

  /** The dfLa box body after its version/flags: one STREAMINFO block, last. */
  streamInfo(): Uint8Array {
    const w = new BitWriter();
    w.bits(0x80, 8); // last metadata block, type 0 (STREAMINFO)
    w.bits(34, 24);
    w.bits(16, 16); // min block size
    w.bits(FLAC_MAX_BLOCK, 16);
    w.bits(0, 24); // min frame size: unknown
    w.bits(0, 24); // max frame size: unknown
    w.bits(this.sampleRate, 20);
    w.bits(0, 3); // channels − 1
    w.bits(15, 5); // bits per sample − 1
    w.bits(0, 36); // total samples: unknown (live)
    for (let i = 0; i < 16; i++) w.bits(0, 8); // MD5: not computed
    return new Uint8Array(w.bytes());
  }

  /** One FLAC frame for this payload (split by the caller if longer than FLAC_MAX_BLOCK). */
  frame(payload: Uint8Array): Uint8Array {
    const n = payload.length;
    const samples = new Int32Array(n);
    let or = 0;
    for (let i = 0; i < n; i++) or |= samples[i] = this.table[payload[i]!]!;
    // Wasted bits: G.711 expands to multiples of 4 (μ) or 8 (A); FLAC stores only the rest.
    let wasted = 0;
    if (or !== 0) while (!((or >> wasted) & 1) && wasted < 15) wasted++;
    const head = [0xff, 0xf9]; // sync, variable block size
    const rateCode = FLAC_RATES[this.sampleRate];
    head.push((7 << 4) | (rateCode ?? 0)); // block size: 16-bit (n−1) at the end of the header
    head.push((0 << 4) | (4 << 1)); // mono, 16 bits per sample
    head.push(...utf8Number(this.sample));
    head.push((n - 1) >> 8, (n - 1) & 0xff);
    head.push(crc8(head));
    const w = new BitWriter();
    w.bits(0, 1);
    w.bits(1, 6); // VERBATIM
    if (wasted) {
      w.bits(1, 1);
      w.bits(1, wasted); // unary wasted − 1: (wasted − 1) zeros then a one
    } else w.bits(0, 1);
    const bps = 16 - wasted;
    const mask = 2 ** bps;
    for (let i = 0; i < n; i++) {
      const v = samples[i]! >> wasted;
      w.bits(v < 0 ? v + mask : v, bps);
    }
    const body = [...head, ...w.bytes()];
    const crc = crc16(body);
    body.push(crc >> 8, crc & 0xff);
    this.sample += n;
    return new Uint8Array(body);
  }
}

export interface LatmConfig extends AacConfig {
  /** AAC frames per RTP payload (numSubFrames + 1). */
  subFrames: number;
}

/**
 * StreamMuxConfig (RFC 6416 `config=` hex, cpresent=0) → the AudioSpecificConfig it carries.
 * Handles audioMuxVersion 0 with one program and one layer (what cameras and GStreamer send).
 */
export function latmConfig(hex: string): LatmConfig {
  if (!/^([0-9a-f]{2})+$/i.test(hex)) throw new Error(`LATM config '${hex}' is not hex`);
  const b = new Uint8Array(hex.length / 2);
  for (let i = 0; i < b.length; i++) b[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  const r = new BitReader(b);
  if (r.bit()) throw new Error("LATM audioMuxVersion 1 is not supported");
  r.bit(); // allStreamsSameTimeFraming
  const subFrames = r.bits(6) + 1;
  if (r.bits(4) !== 0 || r.bits(3) !== 0) throw new Error("LATM with several programs or layers is not supported");
  // AudioSpecificConfig, bit-aligned: copy its bits out into whole bytes.
  const start = 15;
  const rd = new BitReader(b);
  rd.skip(start);
  let aot = rd.bits(5);
  let len = 5;
  if (aot === 31) (aot = 32 + rd.bits(6)), (len += 6);
  const idx = rd.bits(4);
  len += 4;
  let sampleRate = idx === 15 ? rd.bits(24) : AAC_RATES[idx] ?? 0;
  if (idx === 15) len += 24;
  const channels = rd.bits(4);
  len += 4;
  if (aot === 5 || aot === 29) {
    // SBR/PS: extension sampling frequency, then the core object type.
    const ext = rd.bits(4);
    len += 4;
    if (ext === 15) (rd.skip(24), (len += 24));
    sampleRate = ext === 15 ? sampleRate : AAC_RATES[ext] ?? sampleRate;
    aot = rd.bits(5);
    len += 5;
  }
  if (aot !== 2) throw new Error(`LATM carries audio object type ${aot}; only AAC-LC (with SBR/PS) is supported`);
  len += 3; // GASpecificConfig: frameLengthFlag, dependsOnCoreCoder (0), extensionFlag
  if (!sampleRate) throw new Error(`LATM config '${hex}' has an unknown sample rate`);
  const src = new BitReader(b);
  src.skip(start);
  const w = new BitWriter();
  for (let i = 0; i < len; i++) w.bits(src.bit(), 1);
  return { sampleRate, channels: channels || 2, config: new Uint8Array(w.bytes()), subFrames };
}

const AAC_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

/** One LATM payload (PayloadLengthInfo + AAC frame, per sub-frame) → the AAC frames. */
export function latmFrames(payload: Uint8Array, subFrames: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let o = 0;
  for (let s = 0; s < subFrames && o < payload.length; s++) {
    let len = 0;
    while (o < payload.length) {
      const v = payload[o++]!;
      len += v;
      if (v !== 255) break;
    }
    if (o + len > payload.length) break;
    out.push(payload.slice(o, o + len));
    o += len;
  }
  return out;
}
