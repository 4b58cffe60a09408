/**
 * Splits a continuous fragmented-MP4 byte stream (as mp4mux writes to stdout) into the
 * init segment and whole fragments (moof + mdat), so a recorder can append whole fragments
 * to segment files and a live relay can forward them.
 */
import { Mp4Error, readBox } from "./box.ts";
import { parseFragment, type FragmentInfo } from "./fragment.ts";
import { parseInit, type InitInfo } from "./init.ts";

export type SplitItem =
  | { kind: "init"; bytes: Uint8Array; info: InitInfo }
  | { kind: "fragment"; bytes: Uint8Array; info: FragmentInfo };

/** Largest box accepted; protects memory against a corrupt size field. */
const MAX_BOX = 256 * 1024 * 1024;

export class FragmentSplitter {
  private pending: Uint8Array = new Uint8Array(0);
  private initParts: Uint8Array[] = [];
  private moof: Uint8Array | null = null;
  private init: InitInfo | null = null;

  get initInfo(): InitInfo | null {
    return this.init;
  }

  push(chunk: Uint8Array): SplitItem[] {
    this.pending = this.pending.length ? concat([this.pending, chunk]) : chunk;
    const out: SplitItem[] = [];
    let off = 0;
    for (;;) {
      const box = readBox(this.pending, off, this.pending.length, false);
      if (!box) break;
      if (box.size > MAX_BOX) throw new Mp4Error(`box '${box.type}' of ${box.size} bytes exceeds the ${MAX_BOX} limit`);
      if (off + box.size > this.pending.length) break;
      const bytes = this.pending.slice(off, off + box.size);
      off += box.size;
      this.accept(box.type, bytes, out);
    }
    this.pending = this.pending.slice(off);
    return out;
  }

  /** Bytes received but not yet part of a whole box (a torn tail when the stream ends). */
  get bufferedBytes(): number {
    return this.pending.length + (this.moof?.length ?? 0);
  }

  private accept(type: string, bytes: Uint8Array, out: SplitItem[]): void {
    switch (type) {
      case "ftyp":
        this.initParts = [bytes];
        this.moof = null;
        break;
      case "moov": {
        this.initParts.push(bytes);
        const initBytes = concat(this.initParts);
        this.init = parseInit(initBytes);
        out.push({ kind: "init", bytes: initBytes, info: this.init });
        this.initParts = [];
        break;
      }
      case "moof":
        this.moof = bytes;
        break;
      case "mdat": {
        if (!this.moof || !this.init) break; // mdat before init/moof: nothing playable to attach it to
        const frag = concat([this.moof, bytes]);
        this.moof = null;
        out.push({ kind: "fragment", bytes: frag, info: parseFragment(frag, this.init) });
        break;
      }
      default:
        // free, skip, mfra, sidx, udta at top level: not needed for playback.
        break;
    }
  }
}

export function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
