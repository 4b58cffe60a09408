/**
 * central/cluster/: which central node handles which sites (docs/design/central-cluster.md,
 * "Sites → nodes: partitions with leases"). Owns the site → partition hash (partition.ts), the
 * lease manager with its fencing check (leases.ts), the control-plane topics a node subscribes
 * (site-topics.ts), the cluster.* config keys (config.ts) and the node id kept in DATA/node-id
 * (node-id.ts), and shared presence — which sites are online on which node (presence.ts,
 * migration 0008). The tables are migration 0003 of central/db. A single node runs the same code
 * and owns all 256 partitions from its first round.
 */
import { systemClock, type Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import type { Database } from "../db/index.ts";
import type { ClusterConfig } from "./config.ts";
import { Leases } from "./leases.ts";
import { persistedNodeId } from "./node-id.ts";
import { OwnedSiteTopics } from "./site-topics.ts";

export { otherNodesAlive } from "./alone.ts";
export { ClusterConfig } from "./config.ts";
export { persistedNodeId } from "./node-id.ts";
export { Leases, NotOwnerError, type PartitionChange } from "./leases.ts";
export { OwnedSiteTopics } from "./site-topics.ts";
export { ownedSites } from "./owned-sites.ts";
export { SharedPresence, type PresenceState, type LocalPresence, type HealthReport } from "./presence.ts";
export { PARTITIONS, partitionOf } from "./partition.ts";

/**
 * A node's membership: its id and its leases (which sites it handles, the fence). Started right
 * after central's database opens, before anything that asks "do I own this site?" is built (the
 * store's retention and live-recording fence, the control plane), so each is given it at
 * construction. The control plane's subscriptions (OwnedSiteTopics) are made with the control
 * plane, once the registry's sites are known (`siteTopics`).
 */
export interface Cluster {
  readonly nodeId: string;
  readonly leases: Leases;
  close(): Promise<void>;
}

export interface StartClusterOptions {
  db: Database;
  config: ClusterConfig;
  dataDir: string;
  /**
   * Lease time: real time by default even when a test drives the product's clock by hand — a
   * test clock jumping hours ahead must not expire leases that real timers renew.
   */
  clock?: Clock;
  log?: Logger;
}

/** Joins the cluster: after this resolves the node holds its partitions (all 256 when alone). */
export async function startCluster(o: StartClusterOptions): Promise<Cluster> {
  const nodeId = o.config.nodeId ?? persistedNodeId(o.dataDir);
  // Lease rounds on a connection of their own (on a server): a renewal waiting for a pooled
  // connection behind the node's batches could let its leases run out.
  const roundsDb = await o.db.ownConnection();
  const leases = new Leases({ db: roundsDb, nodeId, clock: o.clock ?? systemClock, heartbeatMs: o.config.heartbeatMs, leaseMs: o.config.leaseMs, ...(o.log ? { log: o.log } : {}) });
  try {
    await leases.start();
  } catch (e) {
    await roundsDb.close().catch(() => undefined);
    throw e;
  }
  o.log?.info("cluster node started", { node: nodeId, partitions: leases.owned().size });
  return {
    nodeId,
    leases,
    close: async () => {
      await leases.close();
      await roundsDb.close();
    },
  };
}

/** What the control plane of this node handles and subscribes (central/sites SiteOwnership): `sites` are the active site ids it knows. */
export function siteTopics(cluster: Cluster, sites: () => readonly string[], log?: Logger): OwnedSiteTopics {
  return new OwnedSiteTopics({ leases: cluster.leases, sites, ...(log ? { log } : {}) });
}
