/**
 * LiveUplinks: which central node holds the one edge uplink of each camera stream
 * (table live_uplinks, migration 0009). A node writes its row when an uplink arrives and
 * removes it when the uplink ends; a row whose node's heartbeat (central_nodes, central/cluster)
 * lapsed is ignored by locate() and deleted by purge(), so a crashed node's uplinks stop
 * counting once its lease would have run out.
 */
import { systemClock, type Clock } from "../../../lib/clock.ts";
import type { Database } from "../../db/index.ts";

export type StreamKind = "main" | "sub";

/** Where another node holds a stream's uplink. */
export interface UplinkLocation {
  nodeId: string;
  /** The node's internal listener (null: it published none, so it cannot relay). */
  internalUrl: string | null;
  sinceMs: number;
}

export interface LiveUplinksOptions {
  db: Database;
  nodeId: string;
  /** A node whose last heartbeat is older than this is dead (the cluster's lease length). */
  leaseMs: number;
  clock?: Clock;
}

export class LiveUplinks {
  private readonly clock: Clock;
  constructor(private readonly o: LiveUplinksOptions) {
    this.clock = o.clock ?? systemClock;
  }

  /** This node now holds the stream's uplink (replaces another node's row: the edge moved). */
  async register(site: string, camera: string, stream: StreamKind): Promise<void> {
    await this.o.db.run(
      `INSERT INTO live_uplinks (site, camera, stream, node_id, since_ms) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (site, camera, stream) DO UPDATE SET node_id = excluded.node_id, since_ms = excluded.since_ms`,
      [site, camera, stream, this.o.nodeId, this.clock.now()],
    );
  }

  /** The uplink on this node ended; another node's newer row is left alone. */
  async unregister(site: string, camera: string, stream: StreamKind): Promise<void> {
    await this.o.db.run(`DELETE FROM live_uplinks WHERE site = $1 AND camera = $2 AND stream = $3 AND node_id = $4`, [site, camera, stream, this.o.nodeId]);
  }

  /** The live node (not this one) that holds the stream's uplink, or null. */
  async locate(site: string, camera: string, stream: StreamKind): Promise<UplinkLocation | null> {
    const rows = await this.o.db.query<{ node_id: string; internal_url: string | null; since_ms: number }>(
      `SELECT u.node_id, n.internal_url, u.since_ms FROM live_uplinks u JOIN central_nodes n ON n.node_id = u.node_id
       WHERE u.site = $1 AND u.camera = $2 AND u.stream = $3 AND u.node_id <> $4 AND n.heartbeat_ms > $5`,
      [site, camera, stream, this.o.nodeId, this.clock.now() - this.o.leaseMs],
    );
    const r = rows[0];
    return r ? { nodeId: r.node_id, internalUrl: r.internal_url, sinceMs: Number(r.since_ms) } : null;
  }

  /** Deletes the rows of nodes whose heartbeat lapsed (or that left central_nodes); returns how many. */
  purge(): Promise<number> {
    return this.o.db.run(
      `DELETE FROM live_uplinks u WHERE NOT EXISTS (SELECT 1 FROM central_nodes n WHERE n.node_id = u.node_id AND n.heartbeat_ms > $1)`,
      [this.clock.now() - this.o.leaseMs],
    );
  }

  /** Forgets every row of this node (at start: a previous run under the same id left them). */
  clearOwn(): Promise<number> {
    return this.o.db.run(`DELETE FROM live_uplinks WHERE node_id = $1`, [this.o.nodeId]);
  }
}
