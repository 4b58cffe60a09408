/**
 * Which sites' background transfer work this node does (docs/design/central-cluster.md,
 * "Transfers and retrievals in flight"): the retrieval worker (settling jobs, their clips,
 * evidence-lock expiry) runs for a site on its partition's owner only (central/cluster), so
 * two nodes never settle one job twice. When this node claims partitions it loads their sites'
 * queued and running retrievals from the database and re-plans each site at once (what already
 * reached central is skipped by holdings), instead of waiting for the next tick or poll; when
 * it loses partitions it drops their sites' cached plans. The edge's work poll is answered and
 * planned by whichever node it reaches, which is safe: the plan is a read of the shared rows,
 * what it writes is idempotent (lost ranges and at-risk alarms dedupe by their insert, byte
 * counters add), and the depot-offload window is judged only from a recent poll to that node
 * (offload.ts), so a node the edge's polls left stops planning it.
 */
import type { Logger } from "../../lib/log/index.ts";
import { partitionOf, type PartitionChange } from "../cluster/index.ts";
import type { Database } from "../db/index.ts";
import { ACTIVE } from "./db.ts";

/** central/cluster's Leases as transfer sees it. */
export interface SiteOwnership {
  owns(siteId: string): boolean;
  /** Called with the partitions a lease round gained and lost; returns the unsubscribe. */
  onChange(fn: (c: PartitionChange) => void): () => void;
}

/** A node alone: every site is its own (tests and tools that run the engine without a cluster). */
export const EVERY_SITE: SiteOwnership = { owns: () => true, onChange: () => () => undefined };

export interface AdoptedSite {
  siteId: string;
  /** The site's queued and running retrievals, now this node's to work on. */
  retrievals: string[];
}

export class RetrievalOwnership {
  private unsubscribe: (() => void) | null = null;
  private adopting: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly d: {
      db: Database;
      ownership: SiteOwnership;
      log: Logger;
      /** Plan the site again now (the engine: forget the cached plan, plan, settle, wake the polls). */
      replan: (siteId: string) => Promise<void>;
      /** The site moved away: drop what this node cached for it. */
      forget: (siteId: string) => void;
    },
  ) {}

  start(): void {
    this.unsubscribe ??= this.d.ownership.onChange((c) => {
      if (c.lost.length) void this.dropped(c.lost).catch((e) => this.d.log.error("releasing sites' transfer work failed", { err: e as Error }));
      if (c.gained.length) this.adopting = this.adopting.then(() => this.adopt(c.gained)).catch((e) => this.d.log.error("taking over sites' retrievals failed", { err: e as Error }));
    });
  }

  stop(): Promise<unknown> {
    this.unsubscribe?.();
    this.unsubscribe = null;
    return this.adopting;
  }

  /** The sites (in `partitions`) with queued or running retrievals: loaded from the database, re-planned here. */
  async adopt(partitions: readonly number[]): Promise<AdoptedSite[]> {
    const wanted = new Set(partitions);
    const rows = await this.d.db.query<{ id: string; site_id: string }>(`SELECT id, site_id FROM tr_retrievals WHERE state IN ${ACTIVE} ORDER BY created_ms`);
    const bySite = new Map<string, string[]>();
    for (const r of rows) if (wanted.has(partitionOf(r.site_id))) bySite.set(r.site_id, [...(bySite.get(r.site_id) ?? []), r.id]);
    const out: AdoptedSite[] = [];
    for (const [siteId, ids] of bySite) {
      if (!this.d.ownership.owns(siteId)) continue; // lost again meanwhile
      this.d.log.info("took over a site's retrievals", { site: siteId, retrievals: ids.length });
      await this.d.replan(siteId);
      out.push({ siteId, retrievals: ids });
    }
    return out;
  }

  private async dropped(partitions: readonly number[]): Promise<void> {
    const lost = new Set(partitions);
    const rows = await this.d.db.query<{ site_id: string }>(`SELECT DISTINCT site_id FROM tr_retrievals WHERE state IN ${ACTIVE}`);
    for (const r of rows) if (lost.has(partitionOf(r.site_id))) this.d.forget(r.site_id);
  }
}
