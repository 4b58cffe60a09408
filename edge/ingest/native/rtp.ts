/**
 * RTP depacketizing: the fixed header, H.264 (RFC 6184: single NAL, STAP-A, FU-A), H.265
 * (RFC 7798: single, AP, FU) and AAC (RFC 3640 AU-headers) payloads. Video NAL units are
 * grouped into access units by RTP timestamp (a new timestamp or the marker bit ends one).
 * Every NAL unit kept is a copy (the input packet is a view into a transient socket buffer),
 * written into the depacketizer's NalArena: the reader of access units releases each NAL unit
 * (VideoDepacketizer.release) after its last read, and copies any it keeps longer.
 */
import { NalArena } from "./nal-arena.ts";

export interface RtpPacket {
  marker: boolean;
  payloadType: number;
  seq: number;
  timestamp: number;
  ssrc: number;
  payload: Uint8Array;
}

/** Parses the RTP fixed header (CSRCs, extension and padding skipped); null if malformed. */
export function parseRtp(b: Uint8Array): RtpPacket | null {
  if (b.length < 12 || b[0]! >> 6 !== 2) return null;
  const cc = b[0]! & 0x0f;
  let off = 12 + cc * 4;
  if (b[0]! & 0x10) {
    if (b.length < off + 4) return null;
    off += 4 + ((b[off + 2]! << 8) | b[off + 3]!) * 4;
  }
  let end = b.length;
  if (b[0]! & 0x20) end -= b[end - 1]!;
  if (end < off) return null;
  return {
    marker: (b[1]! & 0x80) !== 0,
    payloadType: b[1]! & 0x7f,
    seq: (b[2]! << 8) | b[3]!,
    timestamp: ((b[4]! << 24) | (b[5]! << 16) | (b[6]! << 8) | b[7]!) >>> 0,
    ssrc: ((b[8]! << 24) | (b[9]! << 16) | (b[10]! << 8) | b[11]!) >>> 0,
    payload: b.subarray(off, end),
  };
}

export interface AccessUnit {
  /** RTP timestamp (32-bit, as sent). */
  timestamp: number;
  nals: Uint8Array[];
}

/** H.264 / H.265 payloads → NAL units → access units. */
export class VideoDepacketizer {
  onAccessUnit: (au: AccessUnit) => void = () => {};
  private nals: Uint8Array[] = [];
  private ts = -1;
  private lastSeq = -1;
  /** Packets lost (sequence gaps); a gap drops the NAL unit being reassembled. */
  lost = 0;

  /**
   * `arena`: where NAL units are written, FU reassembly included (fragments are appended where
   * the unit will stay: one copy, from the packet, and no buffer made per unit).
   */
  constructor(
    private readonly codec: "h264" | "h265",
    private readonly arena = new NalArena(),
  ) {}

  push(p: RtpPacket): void {
    if (this.lastSeq >= 0 && p.seq !== ((this.lastSeq + 1) & 0xffff)) {
      this.lost++;
      this.arena.abort();
    }
    this.lastSeq = p.seq;
    if (this.ts !== p.timestamp && this.nals.length) this.flush();
    this.ts = p.timestamp;
    if (this.codec === "h264") this.h264(p.payload);
    else this.h265(p.payload);
    if (p.marker) this.flush();
  }

  private flush(): void {
    if (!this.nals.length) return;
    const au = { timestamp: this.ts, nals: this.nals };
    this.nals = [];
    this.onAccessUnit(au);
  }

  /** An aggregation packet (H.264 STAP-A, H.265 AP): from its header's end `o`, 16-bit size + NAL unit, repeated. */
  private unpackAggregate(pl: Uint8Array, o: number): void {
    while (o + 2 <= pl.length) {
      const n = (pl[o]! << 8) | pl[o + 1]!;
      o += 2;
      if (n === 0 || o + n > pl.length) break;
      this.nals.push(this.arena.copy(pl.subarray(o, o + n)));
      o += n;
    }
  }

  private h264(pl: Uint8Array): void {
    if (pl.length < 1) return;
    const type = pl[0]! & 0x1f;
    if (type >= 1 && type <= 23) {
      this.nals.push(this.arena.copy(pl));
    } else if (type === 24) {
      this.unpackAggregate(pl, 1); // STAP-A
    } else if (type === 28) {
      if (pl.length < 2) return;
      const start = (pl[1]! & 0x80) !== 0;
      const end = (pl[1]! & 0x40) !== 0;
      if (start) {
        this.arena.begin();
        this.arena.push((pl[0]! & 0xe0) | (pl[1]! & 0x1f));
        this.arena.append(pl.subarray(2));
      } else if (this.arena.building) this.arena.append(pl.subarray(2));
      if (end && this.arena.building) this.nals.push(this.arena.finish());
    }
    // STAP-B, MTAP, FU-B (interleaved mode) are not used over RTSP/TCP by cameras.
  }

  private h265(pl: Uint8Array): void {
    if (pl.length < 2) return;
    const type = (pl[0]! >> 1) & 0x3f;
    if (type < 48) {
      this.nals.push(this.arena.copy(pl));
    } else if (type === 48) {
      this.unpackAggregate(pl, 2); // AP (no DONL: sprop-max-don-diff is 0 for cameras)
    } else if (type === 49) {
      if (pl.length < 3) return;
      const fuh = pl[2]!;
      const start = (fuh & 0x80) !== 0;
      const end = (fuh & 0x40) !== 0;
      if (start) {
        const t = fuh & 0x3f;
        this.arena.begin();
        this.arena.push((pl[0]! & 0x81) | (t << 1));
        this.arena.push(pl[1]!);
        this.arena.append(pl.subarray(3));
      } else if (this.arena.building) this.arena.append(pl.subarray(3));
      if (end && this.arena.building) this.nals.push(this.arena.finish());
    }
  }

  /** The reader of an access unit is done with this NAL unit: its bytes may be written again. Once per unit. */
  release(nal: Uint8Array): void {
    this.arena.release(nal);
  }
}

export interface AudioFrame {
  timestamp: number;
  data: Uint8Array;
  /** In RTP clock ticks (= samples); default 1024 (an AAC frame). */
  duration?: number;
}

/** RFC 3640 (mpeg4-generic, AAC-hbr/lbr): AU headers, then the AUs; large AUs may span packets. */
export class AacDepacketizer {
  onFrame: (f: AudioFrame) => void = () => {};
  private frag: Uint8Array[] | null = null;
  private fragTs = 0;
  private fragNeed = 0;
  private fragHave = 0;

  constructor(
    private readonly sizeLength: number,
    private readonly indexLength: number,
    private readonly indexDeltaLength: number,
    /** Samples per AU (1024 for AAC-LC). */
    private readonly frameSamples = 1024,
  ) {}

  push(p: RtpPacket): void {
    const pl = p.payload;
    if (pl.length < 2) return;
    const headerBits = (pl[0]! << 8) | pl[1]!;
    const headerBytes = (headerBits + 7) >> 3;
    let dataOff = 2 + headerBytes;
    if (dataOff > pl.length) return;
    if (this.frag) {
      // Continuation of a fragmented AU: one AU header naming the whole size.
      const rest = pl.subarray(dataOff);
      this.frag.push(rest.slice());
      this.fragHave += rest.length;
      if (this.fragHave >= this.fragNeed || p.marker) this.finishFrag();
      return;
    }
    let bit = 16;
    const read = (n: number) => {
      let v = 0;
      for (let i = 0; i < n; i++, bit++) v = v * 2 + ((pl[bit >> 3]! >> (7 - (bit & 7))) & 1);
      return v;
    };
    let i = 0;
    while (bit + this.sizeLength <= 16 + headerBits) {
      const size = read(this.sizeLength);
      read(i === 0 ? this.indexLength : this.indexDeltaLength);
      const ts = (p.timestamp + i * this.frameSamples) >>> 0;
      if (dataOff + size > pl.length) {
        if (i === 0) {
          this.frag = [pl.slice(dataOff)];
          this.fragTs = ts;
          this.fragNeed = size;
          this.fragHave = pl.length - dataOff;
        }
        return;
      }
      this.onFrame({ timestamp: ts, data: pl.slice(dataOff, dataOff + size) });
      dataOff += size;
      i++;
    }
  }

  private finishFrag(): void {
    const parts = this.frag!;
    this.frag = null;
    const out = new Uint8Array(this.fragHave);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    this.onFrame({ timestamp: this.fragTs, data: out.subarray(0, Math.min(o, this.fragNeed)) });
  }
}
