/**
 * PreviewSync: sends every preview file to central, newest first (after an outage the recent
 * past is what an operator looks at), one whole file per PUT in the `preview` class of the
 * transfer engine (link allowed, budget, rate cap, alarm/request first). What central has
 * confirmed is remembered in DATA/preview/sent.json, so a restart sends nothing twice; files
 * not yet confirmed are found again by listing the store at start. Shared cameras only.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import { listMedia } from "../../lib/store/files.ts";
import { parseSegmentPath, previewSegmentPath, writeFileDurable } from "../../lib/store/layout.ts";
import { H, paths } from "../../federation/transfer/index.ts";
import { sha256Hex } from "../../lib/preview/format.ts";

export interface PreviewSender {
  sendSmall(path: string, body: Uint8Array, headers: Record<string, string>): Promise<"sent" | "wait" | "blocked" | "refused">;
}

export interface PreviewSyncDeps {
  /** Store root (previews are beside the segments). */
  root: string;
  dataDir: string;
  /** The transfer engine of the current identity (it is replaced when the certificate rotates). */
  sender: () => PreviewSender | undefined;
  shared: (cameraId: string) => boolean;
  clock: Clock;
  log: Logger;
  /** Pause after "wait"/"blocked"/an error before trying again; default 1 s. */
  retryMs?: number;
}

interface Item {
  key: string;
  cameraId: string;
  stream: string;
  startMs: number;
  path: string;
}

export interface PreviewSyncStatus {
  pending: number;
  sent: number;
  sentBytes: number;
  refused: number;
  /** Why nothing goes right now (null while sending or idle). */
  held: "urgent-transfers" | "link-or-budget" | "central-unreachable" | null;
}

export class PreviewSync {
  private readonly pending = new Map<string, Item>();
  private sent = new Set<string>();
  private stopped = false;
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private held: PreviewSyncStatus["held"] = null;
  readonly stats = { sent: 0, sentBytes: 0, refused: 0 };
  private readonly file: string;
  private saving: Promise<void> = Promise.resolve();

  constructor(private readonly d: PreviewSyncDeps) {
    this.file = join(d.dataDir, "preview", "sent.json");
  }

  async start(): Promise<void> {
    try {
      this.sent = new Set(JSON.parse(await readFile(this.file, "utf8")) as string[]);
    } catch {
      this.sent = new Set();
    }
    const { previews } = await listMedia(this.d.root);
    const onDisk = new Set<string>();
    for (const p of previews) {
      const it = this.itemOf(p);
      if (!it) continue;
      onDisk.add(it.key);
      if (!this.sent.has(it.key)) this.pending.set(it.key, it);
    }
    // Forget what retention deleted, so the file does not grow forever.
    for (const k of this.sent) if (!onDisk.has(k)) this.sent.delete(k);
    this.loop = this.run();
  }

  /** A new preview file (EdgePreview.onPreview). */
  add(previewRel: string): void {
    const it = this.itemOf(previewRel);
    if (!it || this.sent.has(it.key)) return;
    this.pending.set(it.key, it);
    this.wake?.();
  }

  /** Something changed (central reachable again, transfers done): try at once. */
  poke(): void {
    this.wake?.();
  }

  status(): PreviewSyncStatus {
    return { pending: this.pending.size, sent: this.stats.sent, sentBytes: this.stats.sentBytes, refused: this.stats.refused, held: this.held };
  }

  private itemOf(rel: string): Item | null {
    const seg = previewSegmentPath(rel);
    const who = seg ? parseSegmentPath(seg) : null;
    if (!who || !this.d.shared(who.cameraId)) return null;
    return { key: `${who.cameraId}/${who.stream}/${who.startMs}`, cameraId: who.cameraId, stream: who.stream, startMs: who.startMs, path: rel };
  }

  private newest(): Item | undefined {
    let best: Item | undefined;
    for (const it of this.pending.values()) if (!best || it.startMs > best.startMs) best = it;
    return best;
  }

  private pause(ms: number): Promise<void> {
    return new Promise<void>((r) => {
      const t = setTimeout(r, ms);
      this.wake = () => {
        clearTimeout(t);
        r();
      };
    }).finally(() => (this.wake = null));
  }

  private async run(): Promise<void> {
    const retry = this.d.retryMs ?? 1000;
    while (!this.stopped) {
      const it = this.newest();
      const sender = this.d.sender();
      if (!it || !sender) {
        this.held = null;
        await this.pause(it ? retry : 30_000);
        continue;
      }
      let body: Uint8Array;
      try {
        body = new Uint8Array(await readFile(join(this.d.root, it.path)));
      } catch {
        this.pending.delete(it.key); // retention got there first
        continue;
      }
      let r: Awaited<ReturnType<PreviewSender["sendSmall"]>>;
      try {
        r = await sender.sendSmall(paths.preview(it.cameraId, it.stream, it.startMs), body, { [H.sha256]: sha256Hex(body) });
      } catch (e) {
        this.held = "central-unreachable";
        this.d.log.debug("preview not sent", { preview: it.key, err: (e as Error).message });
        await this.pause(retry);
        continue;
      }
      if (r === "wait" || r === "blocked") {
        this.held = r === "wait" ? "urgent-transfers" : "link-or-budget";
        await this.pause(retry);
        continue;
      }
      this.held = null;
      this.pending.delete(it.key);
      if (r === "refused") {
        this.stats.refused++;
        this.d.log.warn("central refused a preview; not sent again", { preview: it.key });
      } else {
        this.stats.sent++;
        this.stats.sentBytes += body.length;
      }
      this.sent.add(it.key);
      this.save();
    }
  }

  private saveTimer: ReturnType<typeof setTimeout> | null = null;

  /** At most one write a second: a crash re-sends at most that second's previews (central dedups by hash). */
  private save(): void {
    this.saveTimer ??= setTimeout(() => this.flush(), 1000);
  }

  private flush(): Promise<void> {
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = null;
    const snap = JSON.stringify([...this.sent]);
    this.saving = this.saving.then(() => writeFileDurable(this.file, snap)).catch((e) => this.d.log.warn("preview sync state not saved", { err: (e as Error).message }));
    return this.saving;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    await this.flush();
  }
}
