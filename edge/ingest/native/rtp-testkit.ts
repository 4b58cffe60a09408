/** Tests' RTP packets (RFC 3550 fixed header, payload type 96, no CSRC, extension or padding). */
export function rtpPacket(seq: number, ts: number, marker: boolean, payload: Uint8Array, ssrc = 0x1234): Uint8Array {
  const b = new Uint8Array(12 + payload.length);
  b[0] = 0x80;
  b[1] = (marker ? 0x80 : 0) | 96;
  b[2] = (seq >> 8) & 0xff;
  b[3] = seq & 0xff;
  new DataView(b.buffer).setUint32(4, ts >>> 0);
  new DataView(b.buffer).setUint32(8, ssrc);
  b.set(payload, 12);
  return b;
}
