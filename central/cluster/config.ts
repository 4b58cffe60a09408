/** The cluster.* keys of central's config (docs/ref/central-config.md). */
import { z } from "zod";
import { DEFAULT_HEARTBEAT_MS, DEFAULT_LEASE_MS } from "./leases.ts";

export const NODE_ID = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, "a node id is 1–63 letters, digits, '.', '_' or '-', starting with a letter or digit");

export const ClusterConfig = z
  .strictObject({
    /** This node's id in the cluster; default: one made at first start and kept in DATA/node-id. */
    nodeId: NODE_ID.optional(),
    /** Heartbeat, lease renewal and claim interval. */
    heartbeatMs: z.number().int().min(50).max(60_000).default(DEFAULT_HEARTBEAT_MS),
    /** How long a lease runs from each renewal: a node silent this long loses its partitions. */
    leaseMs: z.number().int().min(100).max(600_000).default(DEFAULT_LEASE_MS),
    /**
     * This node's internal listener (live relayed between nodes, mTLS with node certificates
     * from central's CA). Absent: no listener and no relay (a single node).
     */
    internalListen: z.strictObject({ host: z.string().min(1).default("0.0.0.0"), port: z.number().int().min(0).max(65535) }).optional(),
    /** How other nodes reach internalListen (published in central_nodes.internal_url); default https://<host>:<port>. */
    internalUrl: z.url({ protocol: /^https$/ }).optional(),
  })
  .refine((c) => c.leaseMs >= 2 * c.heartbeatMs, { message: "cluster.leaseMs must be at least twice cluster.heartbeatMs (a lease must survive a late renewal)", path: ["leaseMs"] })
  .refine((c) => !c.internalUrl || c.internalListen, { message: "cluster.internalUrl needs cluster.internalListen (the listener it names)", path: ["internalUrl"] })
  .prefault({});
export type ClusterConfig = z.infer<typeof ClusterConfig>;
