-- Central nodes and the 256 site partitions they own under leases (central/cluster,
-- docs/design/central-cluster.md "Sites → nodes"). A site's partition is a stable hash of its
-- id mod 256 (central/cluster/partition.ts). Every partition row exists from the start; an
-- unowned one has node_id NULL and lease_until_ms 0. epoch grows by one at every claim and
-- fences a former owner's commits (stillOwner). Times are ms since the Unix epoch.

-- up
CREATE TABLE central_nodes (
  node_id text PRIMARY KEY,
  api_url text,
  started_ms bigint NOT NULL,
  heartbeat_ms bigint NOT NULL
);
CREATE TABLE partitions (
  partition integer PRIMARY KEY CHECK (partition >= 0 AND partition < 256),
  node_id text,
  epoch bigint NOT NULL DEFAULT 0,
  lease_until_ms bigint NOT NULL DEFAULT 0
);
CREATE INDEX partitions_node ON partitions (node_id);
INSERT INTO partitions (partition, node_id, epoch, lease_until_ms) SELECT g, NULL, 0, 0 FROM generate_series(0, 255) AS g;

-- down
DROP TABLE partitions;
DROP TABLE central_nodes;
