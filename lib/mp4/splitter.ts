/**
 * Splits a continuous fragmented-MP4 byte stream (as mp4mux writes to stdout) into the
 * init segment and whole fragments (moof + mdat), so a recorder can append whole fragments
 * to segment files and a live relay can forward them.
 */
import { Mp4Error, concat, readBox } from "./box.ts";
import { parseFragment, type FragmentInfo } from "./fragment.ts";
import { parseInit, type InitInfo } from "./init.ts";

export type SplitItem =
  | { kind: "init"; bytes: Uint8Array; info: InitInfo }
  | { kind: "fragment"; bytes: Uint8Array; info: FragmentInfo };

/** Largest box accepted; protects memory against a corrupt size field. */
const MAX_BOX = 256 * 1024 * 1024;

export class FragmentSplitter {
  private parts: Uint8Array[] = [];
  private partsLength = 0;
  /** Bytes needed before the next whole box (or header) can be read. */
  private need = 16;
  private initParts: Uint8Array[] = [];
  private moof: Uint8Array | null = null;
  private init: InitInfo | null = null;

  get initInfo(): InitInfo | null {
    return this.init;
  }

  push(chunk: Uint8Array): SplitItem[] {
    // Chunks are only joined once a whole box is there, so tiny reads cost O(n), not O(n²).
    this.parts.push(chunk);
    this.partsLength += chunk.length;
    if (this.partsLength < this.need) return [];
    const buf = this.parts.length === 1 ? this.parts[0]! : concat(this.parts);
    const out: SplitItem[] = [];
    let off = 0;
    this.need = 16;
    for (;;) {
      const box = readBox(buf, off, buf.length, false);
      if (!box) break;
      if (box.size > MAX_BOX) throw new Mp4Error(`box '${box.type}' of ${box.size} bytes exceeds the ${MAX_BOX} limit`);
      if (off + box.size > buf.length) {
        this.need = box.size;
        break;
      }
      const bytes = buf.slice(off, off + box.size);
      off += box.size;
      this.accept(box.type, bytes, out);
    }
    const rest = buf.subarray(off);
    this.parts = rest.length ? [rest.slice()] : [];
    this.partsLength = rest.length;
    return out;
  }

  /** Bytes received but not yet part of a whole box (a torn tail when the stream ends). */
  get bufferedBytes(): number {
    return this.partsLength + (this.moof?.length ?? 0);
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
