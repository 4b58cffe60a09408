-- Shared presence (central/cluster/presence.ts, docs/design/central-cluster.md "Shared
-- presence"): which sites are online, since when and on which node. Written by the site's
-- partition owner (on a change of state at once, on activity at most every few seconds, in one
-- statement per flush); read by every node. A row whose node's heartbeat (central_nodes)
-- lapsed reads as offline since last_seen_ms until the new owner writes it.
-- Times are ms since the Unix epoch.

-- up
CREATE TABLE site_presence (
  site_id text PRIMARY KEY,
  online boolean NOT NULL,
  since_ms bigint NOT NULL,
  last_seen_ms bigint NOT NULL,
  node_id text NOT NULL
);

-- down
DROP TABLE site_presence;
