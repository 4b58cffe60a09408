/**
 * Framing of the live uplink body (edge → central, inside one chunked HTTP POST over mTLS):
 *   frame = type u8 | length u32 BE | payload
 *   1 init      payload = ftyp+moov
 *   2 fragment  payload = capturedAtMs f64 BE (edge wall clock when ingest split it) | moof+mdat…
 *   3 ping      empty (sent when no fragment went out for a while, so a dead link shows)
 * Central parses fragments itself (it has the init), so the frame carries no metadata.
 */
export const FRAME_INIT = 1;
export const FRAME_FRAGMENT = 2;
export const FRAME_PING = 3;

/** Largest frame accepted (a corrupt length must not make central buffer gigabytes). */
export const MAX_FRAME = 32 * 1024 * 1024;

export type Frame = { type: 1; bytes: Uint8Array } | { type: 2; capturedAtMs: number; bytes: Uint8Array } | { type: 3 };

export function encodeFrame(f: Frame): Uint8Array {
  const payloadLen = f.type === 3 ? 0 : f.type === 2 ? 8 + f.bytes.length : f.bytes.length;
  const out = new Uint8Array(5 + payloadLen);
  const dv = new DataView(out.buffer);
  out[0] = f.type;
  dv.setUint32(1, payloadLen);
  if (f.type === 1) out.set(f.bytes, 5);
  else if (f.type === 2) {
    dv.setFloat64(5, f.capturedAtMs);
    out.set(f.bytes, 13);
  }
  return out;
}

export class WireError extends Error {}

/** Incremental decoder: push() body chunks, get whole frames. */
export class FrameReader {
  private buf: Uint8Array = new Uint8Array(0);

  push(chunk: Uint8Array): Frame[] {
    if (this.buf.length) {
      const b = new Uint8Array(this.buf.length + chunk.length);
      b.set(this.buf);
      b.set(chunk, this.buf.length);
      this.buf = b;
    } else this.buf = chunk;
    const out: Frame[] = [];
    let off = 0;
    while (this.buf.length - off >= 5) {
      const dv = new DataView(this.buf.buffer, this.buf.byteOffset + off);
      const type = this.buf[off]!;
      const len = dv.getUint32(1);
      if (len > MAX_FRAME) throw new WireError(`live frame of ${len} bytes exceeds ${MAX_FRAME}`);
      if (type < 1 || type > 3) throw new WireError(`unknown live frame type ${type}`);
      if (this.buf.length - off < 5 + len) break;
      const p = this.buf.subarray(off + 5, off + 5 + len);
      if (type === FRAME_INIT) out.push({ type: 1, bytes: p.slice() });
      else if (type === FRAME_FRAGMENT) {
        if (len < 8) throw new WireError("live fragment frame without a timestamp");
        out.push({ type: 2, capturedAtMs: new DataView(p.buffer, p.byteOffset).getFloat64(0), bytes: p.slice(8) });
      } else out.push({ type: 3 });
      off += 5 + len;
    }
    this.buf = off === this.buf.length ? new Uint8Array(0) : this.buf.slice(off);
    return out;
  }
}
