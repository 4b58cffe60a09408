/**
 * LL-HLS packager over a LiveHub: every hub fragment is one part (mp4mux cuts ~500 ms), parts
 * are grouped into segments that start at keyframes. Serves `live.m3u8` (with blocking
 * playlist reload via _HLS_msn/_HLS_part and a preload hint for the next part), the init
 * segment, whole segments and parts; a request for the hinted part blocks until it exists.
 * URIs in the playlist are relative: live.m3u8 → live/init.mp4, live/s<msn>.m4s, live/q<seq>.m4s.
 * Parts are named by a packager-wide sequence number, not by <msn>.<index>: whether the next part
 * opens a new segment is only known when it arrives (keyframe + segment long enough), so only a
 * segment-independent name lets the preload hint be the URI that part will really be listed under.
 * Stale media is never listed as live: the parts go when the source ends, and when the newest part
 * is older than the hub's staleness bound the playlist is empty (503) until fresh parts arrive.
 */
import { concat, keepFragment } from "../mp4/index.ts";
import type { HubEvent, LiveFragment, LiveHub, LiveInit } from "./hub.ts";

interface Segment {
  msn: number;
  parts: LiveFragment[];
  /** Part sequence number of parts[0]; a segment's parts are numbered consecutively. */
  firstSeq: number;
  durationMs: number;
  startedAt: number;
  closed: boolean;
}

export interface HlsOptions {
  /** A segment closes at the first keyframe after this much media; default 2000 ms. */
  targetSegmentMs?: number;
  /** Closed segments listed; default 6. */
  windowSegments?: number;
  /** Longest a blocking request waits; default 6000 ms. */
  blockTimeoutMs?: number;
}

const MIME_M3U8 = "application/vnd.apple.mpegurl";
const MIME_MP4 = "video/mp4";

export class HlsPackager {
  private segments: Segment[] = [];
  /** Sequence number the next published part gets; never reset (not even on a new init), so a
   * part URI is never reused for different bytes (parts are cacheable). */
  private nextSeq = 0;
  /** Media sequence number of the next segment; never reset either (playlists are dropped, not renumbered). */
  private nextMsn = 0;
  private init: LiveInit | undefined;
  private waiters = new Set<() => void>();
  private maxPartMs = 0;
  private maxSegMs = 0;
  private readonly targetSegMs: number;
  private readonly window: number;
  private readonly blockMs: number;
  private readonly unlisten: () => void;

  constructor(
    readonly hub: LiveHub,
    o: HlsOptions = {},
  ) {
    this.targetSegMs = o.targetSegmentMs ?? 2000;
    this.window = o.windowSegments ?? 6;
    this.blockMs = o.blockTimeoutMs ?? 6000;
    this.init = hub.initSegment;
    for (const f of hub.lastGop) this.onFragment(f);
    this.unlisten = hub.listen((e) => this.onEvent(e));
  }

  close(): void {
    this.unlisten();
    for (const w of this.waiters) w();
    this.waiters.clear();
  }

  private onEvent(e: HubEvent): void {
    if (e.type === "init") {
      this.init = e.init;
      // Old parts do not match the new init: start over (the playlist gets a discontinuity by
      // having no older segments; players reload the map).
      this.segments = [];
    } else if (e.type === "fragment") this.onFragment(e.fragment);
    else this.segments = []; // the source ended: what we hold is no longer live
    this.wake();
  }

  /** Drops everything when the newest part is stale (the source went quiet without ending). */
  private dropStale(): void {
    const last = this.segments[this.segments.length - 1]?.parts.at(-1);
    if (last && !this.hub.isFresh(last)) this.segments = [];
  }

  private onFragment(f: LiveFragment): void {
    let cur = this.segments[this.segments.length - 1];
    if (!cur || cur.closed) {
      if (!f.keyframe) return; // a segment must start with a keyframe
      cur = this.open(f);
    } else if (f.keyframe && cur.durationMs >= this.targetSegMs) {
      this.closeCurrent();
      cur = this.open(f);
    }
    // A pooled fragment's buffer is reused once the hub lets it go; the playlist keeps it longer.
    const bytes = keepFragment(f.bytes);
    cur.parts.push(bytes === f.bytes ? f : { ...f, bytes });
    this.nextSeq++;
    cur.durationMs += f.durationMs;
    this.maxPartMs = Math.max(this.maxPartMs, f.durationMs);
  }

  private open(f: LiveFragment): Segment {
    const s: Segment = { msn: this.nextMsn++, parts: [], firstSeq: this.nextSeq, durationMs: 0, startedAt: f.capturedAt, closed: false };
    this.segments.push(s);
    while (this.segments.filter((x) => x.closed).length > this.window) this.segments.shift();
    return s;
  }

  private closeCurrent(): void {
    const cur = this.segments[this.segments.length - 1];
    if (!cur || cur.closed || !cur.parts.length) return;
    cur.closed = true;
    this.maxSegMs = Math.max(this.maxSegMs, cur.durationMs);
  }

  private wake(): void {
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }

  private async until(cond: () => boolean): Promise<boolean> {
    const deadline = Date.now() + this.blockMs;
    while (!cond()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, left);
        const w = () => done();
        function done() {
          clearTimeout(t);
          resolve();
        }
        this.waiters.add(w);
      });
    }
    return true;
  }

  private has(msn: number, part: number | undefined): boolean {
    const s = this.segments.find((x) => x.msn === msn);
    if (!s) return (this.segments[this.segments.length - 1]?.msn ?? -1) > msn;
    return part === undefined ? s.closed : s.parts.length > part || s.closed;
  }

  private part(seq: number): LiveFragment | undefined {
    const s = this.segments.findLast((x) => x.firstSeq <= seq);
    return s?.parts[seq - s.firstSeq];
  }

  /** The media playlist; with msn (and part) it blocks until that segment/part exists. */
  async playlist(msn?: number, part?: number, keep = ""): Promise<string | null> {
    this.dropStale();
    if (msn !== undefined && !(await this.until(() => this.has(msn, part)))) return null;
    if (!this.init || !this.segments.length) {
      if (!(await this.until(() => !!this.init && this.segments.length > 0))) return null;
    }
    return this.render(keep);
  }

  private render(keep: string): string {
    const q = (u: string) => (keep ? `${u}${u.includes("?") ? "&" : "?"}${keep}` : u);
    const partTarget = Math.max(this.maxPartMs, 1) / 1000;
    const target = Math.ceil(Math.max(this.maxSegMs, this.targetSegMs, ...this.segments.map((s) => s.durationMs)) / 1000);
    const segs = this.segments;
    const first = segs[0]!;
    const lines = [
      "#EXTM3U",
      "#EXT-X-VERSION:9",
      `#EXT-X-TARGETDURATION:${target}`,
      `#EXT-X-PART-INF:PART-TARGET=${partTarget.toFixed(3)}`,
      `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=${(3 * partTarget).toFixed(3)}`,
      `#EXT-X-MEDIA-SEQUENCE:${first.msn}`,
      `#EXT-X-MAP:URI="${q(`live/init.mp4?v=${this.init!.version}`)}"`,
    ];
    const lastClosed = segs.filter((s) => s.closed).length;
    segs.forEach((s, i) => {
      lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(s.startedAt).toISOString()}`);
      // Parts only for the newest segments (spec: within 3 target durations of the end).
      if (i >= lastClosed - 2) {
        s.parts.forEach((p, j) => lines.push(`#EXT-X-PART:DURATION=${(p.durationMs / 1000).toFixed(3)},URI="${q(`live/q${s.firstSeq + j}.m4s`)}"${p.keyframe ? ",INDEPENDENT=YES" : ""}`));
      }
      if (s.closed) lines.push(`#EXTINF:${(s.durationMs / 1000).toFixed(3)},`, q(`live/s${s.msn}.m4s`));
    });
    lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${q(`live/q${this.nextSeq}.m4s`)}"`);
    return lines.join("\n") + "\n";
  }

  /**
   * Answers live.m3u8 and the files under live/: `name` is "live.m3u8", "init.mp4", "s3.m4s",
   * "q42.m4s". `keep` (e.g. "stream=sub") is appended to every URI in the playlist.
   */
  async serve(name: string, query: URLSearchParams, keep = ""): Promise<Response> {
    if (name === "live.m3u8") {
      this.dropStale();
      const msn = optInt(query.get("_HLS_msn"));
      const part = optInt(query.get("_HLS_part"));
      if (msn === null || part === null) return text(400, "_HLS_msn and _HLS_part must be non-negative integers");
      if (part !== undefined && msn === undefined) return text(400, "_HLS_part needs _HLS_msn");
      const cur = this.nextMsn - 1;
      if (msn !== undefined && msn > cur + 2) return text(400, `_HLS_msn ${msn} is too far ahead of the live edge (${cur})`);
      const body = await this.playlist(msn, part, keep);
      if (body === null) return text(503, "no live media yet; try again");
      return new Response(body, { headers: { "content-type": MIME_M3U8, "cache-control": "no-cache" } });
    }
    if (name === "init.mp4") {
      if (!this.init && !(await this.until(() => !!this.init))) return text(503, "no live media yet");
      return new Response(this.init!.bytes as Uint8Array<ArrayBuffer>, { headers: { "content-type": MIME_MP4, "cache-control": "no-cache" } });
    }
    let m = /^s(\d+)\.m4s$/.exec(name);
    if (m) {
      const msn = Number(m[1]);
      if (!(await this.until(() => this.has(msn, undefined)))) return text(404, `segment ${msn} is not available`);
      const s = this.segments.find((x) => x.msn === msn);
      if (!s) return text(404, `segment ${msn} has left the live window`);
      return media(concat(s.parts.map((p) => p.bytes)));
    }
    m = /^q(\d{1,15})\.m4s$/.exec(name);
    if (m) {
      const seq = Number(m[1]);
      // Only the hinted part (nextSeq) is worth waiting for; anything later was never announced.
      if (seq > this.nextSeq) return text(404, `part ${seq} is too far ahead`);
      if (!(await this.until(() => this.nextSeq > seq))) return text(404, `part ${seq} is not available`);
      const p = this.part(seq);
      if (!p) return text(404, `part ${seq} has left the live window`);
      return media(p.bytes);
    }
    return text(404, `no live file ${name}`);
  }
}

function optInt(v: string | null): number | undefined | null {
  if (v === null) return undefined;
  return /^\d{1,9}$/.test(v) ? Number(v) : null;
}

function text(status: number, detail: string): Response {
  return new Response(JSON.stringify({ type: "about:blank", title: status === 503 ? "Service Unavailable" : status === 400 ? "Bad Request" : "Not Found", status, detail }), {
    status,
    headers: { "content-type": "application/problem+json" },
  });
}

function media(b: Uint8Array): Response {
  return new Response(b as Uint8Array<ArrayBuffer>, { headers: { "content-type": MIME_MP4, "cache-control": "max-age=60" } });
}
