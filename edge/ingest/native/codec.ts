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
  const { width, height } = h264Sps(sps);
  return { width, height };
}

export interface SpsInfo extends VideoSize {
  /**
   * How many frames may precede a frame in decode order yet follow it in presentation order
   * (B-frames): 0 = output order is decode order. Undefined when the SPS does not say.
   */
  reorder: number | undefined;
}

/** Picture size and reorder depth from an H.264 SPS NAL unit (with its 1-byte header). */
export function h264Sps(sps: Uint8Array): SpsInfo {
  const r = new BitReader(unescapeRbsp(sps.subarray(1)));
  const profile = r.bits(8);
  const constraints = r.bits(8);
  r.skip(8); // level
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
  const size = { width: wMbs * 16 - (cl + cr) * cropX, height: hMaps * 16 * (2 - frameMbsOnly) - (ct + cb) * cropY };
  // Baseline (no B slices), intra-only profiles and POC type 2 (output order = decode order)
  // cannot reorder; otherwise only VUI bitstream_restriction says how deep reordering goes.
  const intraOnly = (constraints & 0x10) !== 0 && [44, 110, 122, 244].includes(profile);
  if (profile === 66 || profile === 44 || intraOnly || pocType === 2) return { ...size, reorder: 0 };
  let reorder: number | undefined;
  try {
    reorder = h264VuiReorder(r);
  } catch {
    reorder = undefined; // a truncated VUI: unknown, not an error
  }
  return { ...size, reorder };
}

function h264VuiReorder(r: BitReader): number | undefined {
  if (!r.bit()) return undefined; // vui_parameters_present_flag
  if (r.bit() && r.bits(8) === 255) r.skip(32); // aspect_ratio_info (+ Extended_SAR)
  if (r.bit()) r.skip(1); // overscan
  if (r.bit()) {
    r.skip(4); // video_format, video_full_range_flag
    if (r.bit()) r.skip(24); // colour description
  }
  if (r.bit()) (r.ue(), r.ue()); // chroma_loc_info
  if (r.bit()) r.skip(65); // timing_info: num_units_in_tick, time_scale, fixed_frame_rate_flag
  const hrd = () => {
    const cpbCnt = r.ue() + 1;
    r.skip(8); // bit_rate_scale, cpb_size_scale
    for (let i = 0; i < cpbCnt; i++) (r.ue(), r.ue(), r.skip(1));
    r.skip(20); // four delay/offset lengths
  };
  const nal = r.bit();
  if (nal) hrd();
  const vcl = r.bit();
  if (vcl) hrd();
  if (nal || vcl) r.skip(1); // low_delay_hrd_flag
  r.skip(1); // pic_struct_present_flag
  if (!r.bit()) return undefined; // bitstream_restriction_flag
  r.skip(1); // motion_vectors_over_pic_boundaries_flag
  r.ue(); // max_bytes_per_pic_denom
  r.ue(); // max_bits_per_mb_denom
  r.ue(); // log2_max_mv_length_horizontal
  r.ue(); // log2_max_mv_length_vertical
  return r.ue(); // max_num_reorder_frames
}

/** H.265 SPS: picture size, reorder depth and the 12 profile_tier_level bytes hvcC repeats. */
export function h265Sps(sps: Uint8Array): SpsInfo & { ptl: Uint8Array } {
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
  let reorder: number | undefined;
  try {
    r.ue(); // bit_depth_luma_minus8
    r.ue(); // bit_depth_chroma_minus8
    r.ue(); // log2_max_pic_order_cnt_lsb_minus4
    const all = r.bit(); // sps_sub_layer_ordering_info_present_flag
    for (let i = all ? 0 : maxSubLayersMinus1; i <= maxSubLayersMinus1; i++) {
      r.ue(); // sps_max_dec_pic_buffering_minus1
      reorder = r.ue(); // sps_max_num_reorder_pics (the highest sub-layer's counts)
      r.ue(); // sps_max_latency_increase_plus1
    }
  } catch {
    reorder = undefined;
  }
  return { width, height, ptl, reorder };
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
