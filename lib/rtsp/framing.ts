/**
 * One RTSP connection's byte stream split into RTSP messages and interleaved frames
 * (RFC 2326 §10.12: `$`, channel, 16-bit length, payload), however TCP cuts it.
 *
 * Hot path of the edge's native ingest (every RTP packet of every camera passes here): a frame
 * usually spans two TCP reads, so the tail is kept in one buffer that grows to the largest frame
 * seen and is reused, not a new joined copy per read (allocation churn costs page faults and
 * madvise in the kernel at camera bitrates); the next read gives it only the bytes it lacks. Frame payloads are views into that transient buffer:
 * valid only during the onFrame call. Messages are copied out (they are rare).
 */
import { contentLength, parseHead, type RtspMessage } from "./message.ts";

/** `$ channel length payload` as one buffer. */
export function interleave(channel: number, payload: Uint8Array): Uint8Array {
  if (payload.length > 0xffff) throw new RangeError(`interleaved payload of ${payload.length} bytes exceeds 65535`);
  const f = new Uint8Array(4 + payload.length);
  f[0] = 0x24;
  f[1] = channel;
  f[2] = payload.length >> 8;
  f[3] = payload.length & 0xff;
  f.set(payload, 4);
  return f;
}

export interface ReaderLimits {
  /** Longest head (start line + headers) accepted; default 64 KiB. */
  maxHead?: number;
  /** Largest Content-Length accepted; default 64 KiB (an SDP or parameter body is a few KiB). */
  maxBody?: number;
}

export class RtspReader {
  /** Interleaved frame (RTP on even channels, RTCP on odd ones); `payload` is valid during the call only. */
  onFrame: (channel: number, payload: Uint8Array) => void = () => {};
  onMessage: (m: RtspMessage) => void = () => {};
  private pend = new Uint8Array(0);
  private pendLen = 0;
  private readonly maxHead: number;
  private readonly maxBody: number;
  /** Bytes of the pending message already searched for the end of its head. */
  private scanned = 0;
  /** The pending message's parsed head while its body is still arriving. */
  private head: (ReturnType<typeof parseHead> & { headLen: number; len: number }) | undefined;
  /** Set once the stream is refused: nothing more is read. */
  error: string | undefined;

  constructor(limits: ReaderLimits = {}) {
    this.maxHead = limits.maxHead ?? 64 * 1024;
    this.maxBody = limits.maxBody ?? 64 * 1024;
  }

  /** Refuses the rest of the stream (a message the caller cannot accept): push stops and returns `why`. */
  stop(why: string): void {
    this.error ??= why;
  }

  /** Feeds one read; returns why the stream is refused (then the caller closes it), else undefined. */
  push(chunk: Uint8Array): string | undefined {
    if (this.error) return this.error;
    let buf = chunk;
    let off = 0;
    if (this.pendLen >= 4 && this.pend[0] === 0x24) {
      // The last read cut a frame: complete it with just the bytes it lacks, then parse the
      // rest of this read where it lies (copying every read behind a cut frame into the kept
      // buffer copied nearly every byte of a camera's stream once more).
      const total = 4 + ((this.pend[2]! << 8) | this.pend[3]!);
      const take = Math.min(total - this.pendLen, chunk.length);
      if (total > this.pend.length) {
        const grown = new Uint8Array(Math.max(total, this.pend.length * 2, 64 * 1024));
        grown.set(this.pend.subarray(0, this.pendLen));
        this.pend = grown;
      }
      this.pend.set(take === chunk.length ? chunk : chunk.subarray(0, take), this.pendLen);
      this.pendLen += take;
      if (this.pendLen < total) return undefined;
      this.pendLen = 0;
      this.onFrame(this.pend[1]!, this.pend.subarray(4, total));
      off = take;
    } else if (this.pendLen) {
      const need = this.pendLen + chunk.length;
      if (need > this.pend.length) {
        const grown = new Uint8Array(Math.max(need, this.pend.length * 2, 64 * 1024));
        grown.set(this.pend.subarray(0, this.pendLen));
        this.pend = grown;
      }
      this.pend.set(chunk, this.pendLen);
      buf = this.pend.subarray(0, need);
      this.pendLen = 0;
    }
    const n = buf.length;
    while (off < n) {
      if (buf[off] === 0x24) {
        if (n - off < 4) break;
        const len = (buf[off + 2]! << 8) | buf[off + 3]!;
        if (n - off < 4 + len) break;
        this.onFrame(buf[off + 1]!, buf.subarray(off + 4, off + 4 + len));
        off += 4 + len;
        continue;
      }
      const used = this.message(buf, off);
      if (used < 0) return this.error;
      if (used === 0) break;
      off += used;
    }
    if (off < n) {
      const tail = buf.subarray(off);
      if (tail.length > this.pend.length) this.pend = new Uint8Array(Math.max(tail.length, 64 * 1024));
      // copyWithin when the tail already lives in `pend` (overlapping move), else a copy of the read.
      if (tail.buffer === this.pend.buffer) this.pend.copyWithin(0, off, n);
      else this.pend.set(tail, 0);
      this.pendLen = tail.length;
    }
    return undefined;
  }

  /** The message at `off`: bytes used, 0 if incomplete, -1 if refused (this.error says why). */
  private message(buf: Uint8Array, off: number): number {
    // An incomplete message stays at the start of the kept tail: resume where the last read
    // stopped instead of rescanning (a head or body sent a byte at a time must not cost O(n²)).
    let head = this.head;
    if (!head) {
      let end = -1;
      const limit = Math.min(buf.length - 3, off + this.maxHead + 1);
      for (let i = off + this.scanned; i < limit; i++) {
        if (buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 13 && buf[i + 3] === 10) {
          end = i;
          break;
        }
      }
      if (end < 0) {
        if (buf.length - off > this.maxHead) {
          this.error = `RTSP message head too long (over ${this.maxHead} bytes)`;
          return -1;
        }
        this.scanned = Math.max(0, limit - off);
        return 0;
      }
      const parsed = parseHead(Buffer.from(buf.buffer, buf.byteOffset + off, end - off).toString("latin1"));
      const len = contentLength(parsed.headers, this.maxBody);
      if (len === null) {
        this.error = `bad RTSP Content-Length ${JSON.stringify(parsed.headers.get("content-length"))} (at most ${this.maxBody})`;
        return -1;
      }
      head = { ...parsed, headLen: end + 4 - off, len };
    }
    const total = head.headLen + head.len;
    if (buf.length - off < total) {
      this.head = head;
      return 0;
    }
    this.head = undefined;
    this.scanned = 0;
    this.onMessage({ startLine: head.startLine, lines: head.lines, headers: head.headers, body: buf.slice(off + head.headLen, off + total) });
    return this.error ? -1 : total;
  }
}
