/**
 * What the muxer needs to know from the bitstream, read without decoding: H.264/H.265 SPS
 * (picture size, profile bytes), NAL unit types, and AAC AudioSpecificConfig.
 */

/** Removes emulation-prevention bytes (00 00 03 → 00 00). */
export function unescapeRbsp(nal: Uint8Array): Uint8Array {
  const out = new Uint8Array(nal.length);
  let n = 0;
  let zeros = 0;
  for (let i = 0; i < nal.length; i++) {
    const b = nal[i]!;
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    out[n++] = b;
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return out.subarray(0, n);
}

export class BitReader {
  private pos = 0;
  constructor(private readonly b: Uint8Array) {}
  bit(): number {
    const byte = this.b[this.pos >> 3];
    if (byte === undefined) throw new Error("bitstream ended early");
    const v = (byte >> (7 - (this.pos & 7))) & 1;
    this.pos++;
    return v;
  }
  bits(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.bit();
    return v;
  }
  skip(n: number): void {
    this.pos += n;
  }
  ue(): number {
    let z = 0;
    while (this.bit() === 0) if (++z > 31) throw new Error("bad exp-Golomb code");
    return (2 ** z - 1) + this.bits(z);
  }
  se(): number {
    const k = this.ue();
    return k & 1 ? (k + 1) / 2 : -(k / 2);
  }
}

export interface VideoSize {
  width: number;
  height: number;
}

/** Picture size from an H.264 SPS NAL unit (with its 1-byte header). */
export function h264SpsSize(sps: Uint8Array): VideoSize {
  const r = new BitReader(unescapeRbsp(sps.subarray(1)));
  const profile = r.bits(8);
  r.skip(16); // constraint flags + level
  r.ue(); // seq_parameter_set_id
  let chroma = 1;
  if ([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].includes(profile)) {
    chroma = r.ue();
    if (chroma === 3) r.skip(1);
    r.ue();
    r.ue();
    r.skip(1);
    if (r.bit()) {
      for (let i = 0; i < (chroma !== 3 ? 8 : 12); i++) {
        if (!r.bit()) continue;
        let last = 8;
        let next = 8;
        for (let j = 0; j < (i < 6 ? 16 : 64); j++) {
          if (next !== 0) next = (last + r.se() + 256) % 256;
          last = next === 0 ? last : next;
        }
      }
    }
  }
  r.ue(); // log2_max_frame_num_minus4
  const pocType = r.ue();
  if (pocType === 0) r.ue();
  else if (pocType === 1) {
    r.skip(1);
    r.se();
    r.se();
    const n = r.ue();
    for (let i = 0; i < n; i++) r.se();
  }
  r.ue(); // max_num_ref_frames
  r.skip(1);
  const wMbs = r.ue() + 1;
  const hMaps = r.ue() + 1;
  const frameMbsOnly = r.bit();
  if (!frameMbsOnly) r.skip(1);
  r.skip(1);
  let [cl, cr, ct, cb] = [0, 0, 0, 0];
  if (r.bit()) [cl, cr, ct, cb] = [r.ue(), r.ue(), r.ue(), r.ue()];
  const cropX = chroma === 0 || chroma === 3 ? 1 : 2;
  const cropY = (chroma === 1 ? 2 : 1) * (2 - frameMbsOnly);
  return { width: wMbs * 16 - (cl + cr) * cropX, height: hMaps * 16 * (2 - frameMbsOnly) - (ct + cb) * cropY };
}

/** H.265 SPS: picture size and the 12 profile_tier_level bytes hvcC repeats. */
export function h265Sps(sps: Uint8Array): VideoSize & { ptl: Uint8Array } {
  const rbsp = unescapeRbsp(sps.subarray(2));
  const r = new BitReader(rbsp);
  r.skip(4);
  const maxSubLayersMinus1 = r.bits(3);
  r.skip(1);
  const ptl = rbsp.slice(1, 13);
  r.skip(96); // general profile/tier/level
  const subProfile: number[] = [];
  const subLevel: number[] = [];
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    subProfile.push(r.bit());
    subLevel.push(r.bit());
  }
  if (maxSubLayersMinus1 > 0) for (let i = maxSubLayersMinus1; i < 8; i++) r.skip(2);
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    if (subProfile[i]) r.skip(88);
    if (subLevel[i]) r.skip(8);
  }
  r.ue(); // sps_seq_parameter_set_id
  const chroma = r.ue();
  if (chroma === 3) r.skip(1);
  let width = r.ue();
  let height = r.ue();
  if (r.bit()) {
    const [l, rt, t, b] = [r.ue(), r.ue(), r.ue(), r.ue()];
    const sx = chroma === 1 || chroma === 2 ? 2 : 1;
    const sy = chroma === 1 ? 2 : 1;
    width -= (l + rt) * sx;
    height -= (t + b) * sy;
  }
  return { width, height, ptl };
}

export interface AacConfig {
  sampleRate: number;
  channels: number;
  config: Uint8Array;
}

const AAC_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

/** AudioSpecificConfig from the SDP's fmtp `config=` hex string. */
export function aacConfig(hex: string): AacConfig {
  if (!/^([0-9a-f]{2})+$/i.test(hex)) throw new Error(`AAC config '${hex}' is not hex`);
  const config = new Uint8Array(hex.length / 2);
  for (let i = 0; i < config.length; i++) config[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  const r = new BitReader(config);
  let aot = r.bits(5);
  if (aot === 31) aot = 32 + r.bits(6);
  const idx = r.bits(4);
  const sampleRate = idx === 15 ? r.bits(24) : AAC_RATES[idx] ?? 0;
  const channels = r.bits(4);
  if (!sampleRate) throw new Error(`AAC config '${hex}' has an unknown sample rate`);
  return { sampleRate, channels: channels || 2, config };
}

export function base64Bytes(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, "base64"));
}
