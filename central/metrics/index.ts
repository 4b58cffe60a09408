/**
 * What a central node reports to Prometheus: sites by state and online, each site's certificate
 * expiry and time since last heard; the control plane's throughput and backlog; live uplinks and
 * viewers; the transfer queue, goodput per link type and the receiver's counters. Read at scrape
 * time from the modules' own status; owns no state. central/compose.ts serves it.
 */
import type { Clock } from "../../lib/clock.ts";
import { newRegistry, scrapeGroup, type Registry } from "../../lib/metrics/index.ts";
import type { SiteView } from "../trust.ts";
import type { FeedStats } from "../live/live.ts";
import type { ReceiverStats } from "../transfer/receiver.ts";

export interface CentralMetricsSource {
  name: string;
  clock: Clock;
  sites(): SiteView[];
  /** Awaited before a scrape reads the sites: other nodes' sites' presence as fresh as its periodic read keeps it (central/cluster/presence.ts). */
  presenceFresh?: () => Promise<void>;
  controlPlane(): { stats: { applied: number; duplicates: number; rejected: number; batches: number; failedBatches: number; maxBatchMs: number }; backlog: number } | null;
  liveFeeds(): FeedStats[];
  retrievals(): Promise<Record<string, number>>;
  /** Measured goodput of the site's link (bytes/s), null when nothing moved lately. */
  goodput(siteId: string): number | null;
  linkType(siteId: string): string | undefined;
  receiver(): ReceiverStats;
}

const SITE = ["site"] as const;

export function centralMetrics(src: CentralMetricsSource): Registry {
  const registry = newRegistry({ central: src.name });
  scrapeGroup(
    registry,
    {
      byState: { name: "outpost_sites", help: "Enrolled sites per state (active, revoked)", labels: ["state"] },
      online: { name: "outpost_site_online", help: "1 while an active site's edge is connected", labels: SITE },
      lastSeen: { name: "outpost_site_last_seen_age_seconds", help: "Time since the site was last heard from", labels: SITE },
      certExpiry: { name: "outpost_site_certificate_expiry_timestamp_seconds", help: "When the site's current certificate expires (Unix time)", labels: SITE },
      goodput: { name: "outpost_transfer_goodput_bytes_per_second", help: "Measured upload goodput summed over sites, per link type", labels: ["link"] },
    },
    async () => {
      await src.presenceFresh?.();
      const now = src.clock.now();
      const sites = src.sites();
      const byState = new Map<string, number>();
      const goodput = new Map<string, number>();
      for (const s of sites) {
        byState.set(s.state, (byState.get(s.state) ?? 0) + 1);
        const g = src.goodput(s.id);
        if (g !== null) {
          const link = src.linkType(s.id) ?? "unknown";
          goodput.set(link, (goodput.get(link) ?? 0) + g);
        }
      }
      const active = sites.filter((s) => s.state === "active");
      return {
        byState: [...byState].map(([state, n]) => [{ state }, n] as const),
        online: active.map((s) => [{ site: s.id }, s.online ? 1 : 0] as const),
        lastSeen: active.flatMap((s) => (s.lastSeenAt ? [[{ site: s.id }, Math.max(0, (now - Date.parse(s.lastSeenAt)) / 1000)] as const] : [])),
        certExpiry: active.flatMap((s) => (s.certificate ? [[{ site: s.id }, Date.parse(s.certificate.notAfter) / 1000] as const] : [])),
        goodput: [...goodput].map(([link, v]) => [{ link }, v] as const),
      };
    },
  );
  scrapeGroup(
    registry,
    {
      applied: { name: "outpost_controlplane_messages_applied", help: "Edge messages committed since start" },
      duplicates: { name: "outpost_controlplane_messages_duplicate", help: "Edge messages already held (resends) since start" },
      rejected: { name: "outpost_controlplane_messages_rejected", help: "Edge messages refused with a reason since start" },
      batches: { name: "outpost_controlplane_batches", help: "Commit batches since start" },
      failed: { name: "outpost_controlplane_failed_batches", help: "Batches that failed and were split since start" },
      maxBatch: { name: "outpost_controlplane_max_batch_seconds", help: "Longest commit batch since start" },
      backlog: { name: "outpost_controlplane_backlog_messages", help: "Messages received and not yet committed" },
    },
    async () => {
      const cp = src.controlPlane();
      if (!cp) return {};
      return { applied: cp.stats.applied, duplicates: cp.stats.duplicates, rejected: cp.stats.rejected, batches: cp.stats.batches, failed: cp.stats.failedBatches, maxBatch: cp.stats.maxBatchMs / 1000, backlog: cp.backlog };
    },
  );
  scrapeGroup(
    registry,
    {
      uplinks: { name: "outpost_live_uplinks", help: "Live streams arriving from edges now" },
      viewers: { name: "outpost_live_viewers", help: "Live viewers per camera stream", labels: ["camera", "stream"] },
      bytesIn: { name: "outpost_live_received_bytes", help: "Live bytes received from edges since start, per site", labels: SITE },
    },
    async () => {
      const feeds = src.liveFeeds();
      const bySite = new Map<string, number>();
      for (const f of feeds) bySite.set(f.siteId, (bySite.get(f.siteId) ?? 0) + f.bytesIn);
      return {
        uplinks: feeds.filter((f) => f.uplinkActive).length,
        viewers: feeds.filter((f) => f.viewers > 0).map((f) => [{ camera: `${f.siteId}.${f.cameraId}`, stream: f.stream }, f.viewers] as const),
        bytesIn: [...bySite].map(([site, n]) => [{ site }, n] as const),
      };
    },
  );
  scrapeGroup(
    registry,
    {
      retrievals: { name: "outpost_retrievals", help: "Retrievals per state", labels: ["state"] },
      received: { name: "outpost_transfer_received_bytes", help: "Upload bytes received since start" },
      commits: { name: "outpost_transfer_commits", help: "Segments committed since start" },
      resumes: { name: "outpost_transfer_resumes", help: "Uploads resumed at an offset since start" },
      badChunks: { name: "outpost_transfer_bad_chunks", help: "Upload chunks refused (hash mismatch) since start" },
    },
    async () => {
      const r = src.receiver();
      const counts = await src.retrievals();
      return {
        retrievals: Object.entries(counts).map(([state, n]) => [{ state }, n] as const),
        received: r.bytesReceived,
        commits: r.commits,
        resumes: r.resumes,
        badChunks: r.badChunks,
      };
    },
  );
  return registry;
}
