-- Upload commits in flight (central/media/intents.ts, docs/design/central-cluster.md
-- "Recordings on shared storage"): CentralMedia.commit writes this row before it puts the blob
-- and deletes it in the transaction that inserts the segment row (or after deleting its own
-- blob). A row left behind names a blob whose commit a crash cut between blob and row: when
-- its node's heartbeat (central_nodes) has lapsed, or the node runs again as another process
-- (incarnation), the site's partition owner takes the row and deletes the blob at once instead
-- of after the sweep's grace. Taking the row is the fence: a paused node's later row commit
-- finds it gone and fails. Times are ms since the Unix epoch.

-- up
CREATE TABLE media_intents (
  blob_key text PRIMARY KEY,
  site_id text NOT NULL,
  node_id text NOT NULL,
  incarnation text NOT NULL,
  created_ms bigint NOT NULL
);

-- down
DROP TABLE media_intents;
