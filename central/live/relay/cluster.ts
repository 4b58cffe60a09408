/**
 * What CentralLive needs from the other nodes of a cluster (LiveCluster), and the product's
 * implementation: the live_uplinks registry, relays over the nodes' internal mTLS listener,
 * and a short memory of nodes a relay could not reach (asked the edge instead meanwhile).
 */
import type { Logger } from "../../../lib/log/index.ts";
import { openRelay, type RelaySink } from "./client.ts";
import type { NodeTls } from "./identity.ts";
import type { LiveUplinks, StreamKind } from "./uplinks.ts";

export interface RelayHandle {
  close(reason: string): void;
}

export interface LiveCluster {
  uplinks: Pick<LiveUplinks, "register" | "unregister" | "locate">;
  /** Opens the one relay of a stream from the node that holds its uplink. */
  relay(from: { nodeId: string; url: string }, siteId: string, cameraId: string, stream: StreamKind, sink: RelaySink): RelayHandle;
  /** A relay to this node failed to connect lately: ask the edge instead of trying it again. */
  unreachable(nodeId: string): boolean;
  /** How often a wanted stream without a source looks for another node's uplink. */
  pollMs: number;
}

export interface LiveClusterOptions {
  uplinks: LiveUplinks;
  tls: NodeTls;
  log: Logger;
  /** Default 500 ms. */
  pollMs?: number;
  /** A node a relay could not reach is skipped this long (default: the cluster's lease, after which its rows are ignored anyway). */
  unreachableMs: number;
  /** No bytes (not even a ping) from a relay for this long → it is dead; default 6 s. */
  stallMs?: number;
}

export function liveCluster(o: LiveClusterOptions): LiveCluster {
  const failed = new Map<string, number>();
  return {
    uplinks: o.uplinks,
    pollMs: o.pollMs ?? 500,
    unreachable: (nodeId) => (failed.get(nodeId) ?? 0) > Date.now(),
    relay: (from, siteId, cameraId, stream, sink) =>
      openRelay({
        ...from,
        tls: o.tls,
        siteId,
        cameraId,
        stream,
        ...(o.stallMs ? { stallMs: o.stallMs } : {}),
        sink: {
          ...sink,
          ended: (reason, connected) => {
            // Not reachable (a refusal over HTTP — no uplink there any more — is not: look again at the next poll).
            if (!connected && !reason.startsWith("refused")) {
              failed.set(from.nodeId, Date.now() + o.unreachableMs);
              o.log.warn("live relay could not reach node; asking the edge instead", { node: from.nodeId, reason });
            }
            sink.ended(reason, connected);
          },
        },
      }),
  };
}
