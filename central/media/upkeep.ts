/**
 * Upkeep of central's shared store by partition owner (docs/design/central-cluster.md,
 * "Recordings on shared storage"), so that with several nodes on one `storage.path` each
 * site's leftovers are cleaned by exactly one node — the owner of its partition — and never by
 * two at once:
 *
 * - **claim recovery**: when this node claims partitions (a node died, or gave them back), the
 *   store recovers the files those sites' previous writer left — segment files without rows
 *   indexed or removed, interrupted temp writes removed, crash gaps opened — as startup
 *   recovery does (MediaStore.recoverClaimed). Files changed within `quietMs` may still be
 *   written by a live node (a paused former owner, a node recording a site it does not own):
 *   they are left, and the site is tried again at the next lease rounds until nothing is left.
 *   A claimed partition stays pending for at least `quietMs` after its claim (a paused former
 *   owner may still create a file just after it), and is never dropped by a pass that could not
 *   look at it (its lease ran out on this node's clock because rounds were late).
 *   Each recovered row is fenced by the partition epoch this node claimed (PgStoreIndex).
 * - **cut upload commits**: at every pass (each lease round), the blobs of upload commits a
 *   crash cut between blob and row whose node's heartbeat is older than `quietMs` (the lease:
 *   that node is dead to the cluster), of the sites this node owns, and this node's own from an
 *   earlier process, are deleted (CentralMedia.reapCutCommits; the intent rows say whose each
 *   commit in flight is, since an upload may be committed on any node, owner or not).
 * - **blob sweep**: every `sweepEveryMs`, for each site whose partition this node owns at that
 *   moment, CentralMedia.sweep deletes blobs no row points at that are older than the grace, and, in
 *   the same walk of the site's directory,
 *   the temp files of interrupted puts whose writer node is dead or restarted (or, naming none,
 *   older than the grace) go — not only at a claim: a non-owner that died mid-put, or a node
 *   restarted under its id, claims nothing (CentralMedia.tempJudge).
 */
import type { TempSweep } from "../../lib/blob/index.ts";
import type { Logger } from "../../lib/log/index.ts";
import type { MediaStore } from "../../lib/store/index.ts";
import { splitCentralCameraId } from "../../federation/protocol/index.ts";
import { partitionOf, type PartitionChange } from "../cluster/index.ts";
import { DEFAULT_SWEEP_GRACE_MS, type CentralMedia } from "./store.ts";

/** What upkeep needs of central/cluster's Leases. */
export interface UpkeepOwnership {
  owns(siteId: string): boolean;
  /** Held with lease time left on this node's clock (owns() of its sites). */
  ownsPartition(partition: number): boolean;
  owned(): Map<number, number>;
  onChange(fn: (c: PartitionChange) => void): () => void;
  onRound(fn: () => void): () => void;
}

export interface MediaUpkeepOptions {
  store: MediaStore;
  media: CentralMedia;
  leases: UpkeepOwnership;
  /** Every site id central knows (active or not): the sweep's candidates. */
  sites: () => readonly string[];
  log: Logger;
  /** A file changed this recently may be a live node's write: default the lease length. */
  quietMs: number;
  sweepGraceMs?: number;
  /** Default 1 h (a sweep lists every blob of the sites it owns). */
  sweepEveryMs?: number;
  /** Real time (file times are real). */
  now?: () => number;
}

export const DEFAULT_SWEEP_EVERY_MS = 60 * 60_000;

export class MediaUpkeep {
  /** Partitions claimed whose sites' leftovers are not all recovered yet → when claimed (this.now()). */
  private readonly pending = new Map<number, number>();
  private readonly unsubscribe: (() => void)[] = [];
  private running: Promise<void> | null = null;
  private lastSweepMs = 0;
  private readonly now: () => number;

  constructor(private readonly o: MediaUpkeepOptions) {
    this.now = o.now ?? Date.now;
    this.lastSweepMs = this.now();
  }

  /**
   * Follows the leases from now on. `initial`: partitions already held whose sites must be
   * recovered too (a node that started beside a live one recovered none at open).
   */
  start(initial: Iterable<number> = []): void {
    for (const p of initial) this.pending.set(p, this.now());
    this.unsubscribe.push(
      this.o.leases.onChange((c) => {
        for (const p of c.lost) this.pending.delete(p);
        for (const p of c.gained) this.pending.set(p, this.now());
        if (c.gained.length) void this.pass();
      }),
      this.o.leases.onRound(() => void this.pass()),
    );
    if (this.pending.size) void this.pass();
  }

  /** One pass (never two at once): recovery of pending partitions, then the sweep when due. Resolves when done. */
  pass(): Promise<void> {
    this.running ??= this.run()
      .catch((e) => this.o.log.error("media upkeep failed; tried again at the next lease round", { err: e as Error }))
      .finally(() => (this.running = null));
    return this.running;
  }

  /** Claimed partitions still waiting for their sites' leftovers to be recovered. */
  pendingPartitions(): number[] {
    return [...this.pending.keys()].sort((a, b) => a - b);
  }

  async close(): Promise<void> {
    for (const u of this.unsubscribe.splice(0)) u();
    await this.running;
  }

  private async run(): Promise<void> {
    await this.recoverPending();
    // Every round: a node that died (or this node's earlier process) may have left upload commits cut between blob and row.
    await this.o.media.reapCutCommits((site) => this.o.leases.owns(site), this.now() - this.o.quietMs);
    if (this.now() - this.lastSweepMs >= (this.o.sweepEveryMs ?? DEFAULT_SWEEP_EVERY_MS)) {
      this.lastSweepMs = this.now();
      await this.sweep();
    }
  }

  private async recoverPending(): Promise<void> {
    const owned = this.o.leases.owned();
    for (const p of [...this.pending.keys()]) if (!owned.has(p)) this.pending.delete(p);
    // Held, but the lease ran out on this node's clock (its rounds are late): looked at once renewed, not dropped.
    const wanted = new Set([...this.pending.keys()].filter((p) => this.o.leases.ownsPartition(p)));
    if (wanted.size === 0) return;
    /** Partitions whose lease ran out during the pass: their files were not looked at. */
    const unseen = new Set<number>();
    const inScope = (siteId: string) => {
      const p = partitionOf(siteId);
      if (!wanted.has(p)) return false;
      if (this.o.leases.owns(siteId)) return true;
      unseen.add(p);
      return false;
    };
    const nowMs = this.now();
    const r = await this.o.store.recoverClaimed((cameraId) => inScope(splitCentralCameraId(cameraId)?.siteId ?? ""), { quietMs: this.o.quietMs, nowMs });
    const stillDeferred = new Set([...r.deferred].map((c) => partitionOf(splitCentralCameraId(c)?.siteId ?? "")));
    // Done with a partition once a pass found nothing left, a quiet period after its claim: until
    // then a paused former owner may still have created a file (its writer ends only when it notices).
    for (const p of wanted) {
      const claimedMs = this.pending.get(p);
      if (claimedMs !== undefined && !stillDeferred.has(p) && !unseen.has(p) && nowMs - claimedMs >= this.o.quietMs) this.pending.delete(p);
    }
    // The blob store's own interrupted puts (CentralMedia) of those sites: those of dead writers,
    // and (the previous owner being dead) those naming no writer once quiet.
    let temps = 0;
    const judge = await this.o.media.tempJudge({ quietMs: this.o.quietMs, untaggedAfterMs: this.o.quietMs, nowMs });
    for (const site of this.o.sites()) if (wanted.has(partitionOf(site)) && this.o.leases.owns(site)) temps += await this.o.media.sweepTemps(site, judge);
    if (r.report.actions.length || temps) this.o.log.info("recovered what the previous owner of taken-over sites left", { actions: r.report.actions.length, recovered: r.recovered.length, tempBlobs: temps, waiting: this.pending.size });
  }

  /**
   * Blobs without rows of the sites this node owns now, each site checked again just before its
   * sweep; and their interrupted puts' temp files whose writer is dead or restarted (or, naming
   * none, older than the grace) — whoever claimed what, so a node whose sites were re-claimed
   * before its leftovers were quiet, or a non-owner that died mid-put, leaves none for good.
   */
  async sweep(): Promise<string[]> {
    const gone: string[] = [];
    const graceMs = this.o.sweepGraceMs ?? DEFAULT_SWEEP_GRACE_MS;
    const judge = await this.o.media.tempJudge({ quietMs: this.o.quietMs, untaggedAfterMs: graceMs, nowMs: this.now() });
    let temps = 0;
    for (const site of this.o.sites()) {
      if (!this.o.leases.owns(site)) continue;
      // One walk of the site's directory for both: blobs without rows and dead temp files.
      const sweep: TempSweep = { removable: judge, removed: 0 };
      gone.push(...(await this.o.media.sweep(site, graceMs, undefined, sweep)));
      temps += sweep.removed;
    }
    if (temps) this.o.log.info("temp files of interrupted blob puts removed (their writer is dead or restarted)", { count: temps });
    return gone;
  }
}
