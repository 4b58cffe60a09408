-- Live across central nodes (central/live/relay, docs/design/central-cluster.md "Live video
-- across nodes"). live_uplinks: which node holds the one edge uplink of a camera stream
-- (written when the uplink arrives, removed when it ends; rows of a node whose heartbeat
-- lapsed are ignored and purged). central_nodes.internal_url: the node's internal mTLS
-- listener that other nodes relay live from (NULL: a single node, no listener).
-- Times are ms since the Unix epoch.

-- up
ALTER TABLE central_nodes ADD COLUMN internal_url text;
CREATE TABLE live_uplinks (
  site text NOT NULL,
  camera text NOT NULL,
  stream text NOT NULL CHECK (stream IN ('main', 'sub')),
  node_id text NOT NULL,
  since_ms bigint NOT NULL,
  PRIMARY KEY (site, camera, stream)
);
CREATE INDEX live_uplinks_node ON live_uplinks (node_id);

-- down
DROP TABLE live_uplinks;
ALTER TABLE central_nodes DROP COLUMN internal_url;
