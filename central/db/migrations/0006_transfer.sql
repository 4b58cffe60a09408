-- Central's transfer state (central/transfer), before in DATA/transfer/transfer.duckdb:
-- retrievals (jobs), the commit log (one row per segment received: its key decides that a
-- segment is committed once across all nodes), bytes per site/link per day and month (central's
-- count, added to — never overwritten — by every node), the edge's own count, live bytes and
-- overrides, evidence locks, segments lost at the edge, depot offloads, a retrieval's quality
-- and the at-risk alarms already raised. Times are epoch ms; JSON kept as text.
-- Also central's preview index (central/preview, before in DATA/preview/preview.duckdb): one
-- row per segment preview (its per-second activity levels as JSON text), per thumbnail, per
-- activity run; the files stay under DATA/preview/files/.

-- up
CREATE TABLE tr_retrievals (
  id text PRIMARY KEY,
  site_id text NOT NULL,
  camera_id text NOT NULL,
  stream text NOT NULL,
  from_ms bigint NOT NULL,
  to_ms bigint NOT NULL,
  priority text NOT NULL,
  reason text,
  created_by text,
  created_ms bigint NOT NULL,
  state text NOT NULL,
  done_ms bigint,
  detail text
);
CREATE INDEX tr_retrievals_site_state ON tr_retrievals (site_id, state);
CREATE INDEX tr_retrievals_state ON tr_retrievals (state);
CREATE TABLE tr_commits (
  site_id text NOT NULL,
  camera_id text NOT NULL,
  stream text NOT NULL,
  start_ms bigint NOT NULL,
  bytes bigint NOT NULL,
  sha256 text NOT NULL,
  committed_ms bigint NOT NULL,
  cls text,
  link text,
  PRIMARY KEY (site_id, camera_id, stream, start_ms)
);
CREATE TABLE tr_usage (
  site_id text NOT NULL,
  month text NOT NULL,
  link text NOT NULL,
  bytes bigint NOT NULL,
  PRIMARY KEY (site_id, month, link)
);
CREATE TABLE tr_usage_daily (
  site_id text NOT NULL,
  day text NOT NULL,
  link text NOT NULL,
  bytes bigint NOT NULL,
  PRIMARY KEY (site_id, day, link)
);
CREATE TABLE tr_edge_usage (
  site_id text PRIMARY KEY,
  month text NOT NULL,
  by_link text NOT NULL,
  link text,
  updated_ms bigint NOT NULL
);
CREATE TABLE tr_live_usage (
  site_id text NOT NULL,
  month text NOT NULL,
  link text NOT NULL,
  bytes bigint NOT NULL,
  PRIMARY KEY (site_id, month, link)
);
CREATE TABLE tr_live_override (
  site_id text PRIMARY KEY,
  until_ms bigint NOT NULL,
  created_by text,
  created_ms bigint NOT NULL,
  reason text
);
CREATE TABLE tr_locks (
  id text PRIMARY KEY,
  site_id text NOT NULL,
  camera_id text NOT NULL,
  from_ms bigint NOT NULL,
  to_ms bigint NOT NULL,
  reason text,
  created_by text,
  created_ms bigint NOT NULL,
  expires_ms bigint,
  ended_ms bigint,
  retrieval_id text
);
CREATE INDEX tr_locks_camera ON tr_locks (site_id, camera_id);
CREATE TABLE tr_lost (
  site_id text NOT NULL,
  camera_id text NOT NULL,
  stream text NOT NULL,
  start_ms bigint NOT NULL,
  reported_ms bigint NOT NULL,
  PRIMARY KEY (site_id, camera_id, stream, start_ms)
);
CREATE TABLE tr_offload (
  site_id text PRIMARY KEY,
  started_ms bigint,
  done_ms bigint,
  bytes bigint
);
CREATE TABLE tr_retrieval_quality (
  id text PRIMARY KEY,
  quality text NOT NULL
);
CREATE TABLE tr_alarms (
  key text PRIMARY KEY,
  at_ms bigint NOT NULL
);
CREATE TABLE pv_segments (
  site_id text NOT NULL,
  camera_id text NOT NULL,
  stream text NOT NULL,
  start_ms bigint NOT NULL,
  end_ms bigint NOT NULL,
  bytes bigint NOT NULL,
  sha256 text NOT NULL,
  path text NOT NULL,
  act_start_ms bigint NOT NULL,
  levels text NOT NULL,
  source text,
  received_ms bigint NOT NULL,
  PRIMARY KEY (site_id, camera_id, stream, start_ms)
);
CREATE TABLE pv_thumbs (
  site_id text NOT NULL,
  camera_id text NOT NULL,
  stream text NOT NULL,
  seg_start_ms bigint NOT NULL,
  idx integer NOT NULL,
  at_ms bigint NOT NULL,
  bytes integer NOT NULL,
  sha256 text NOT NULL,
  width integer NOT NULL,
  height integer NOT NULL
);
CREATE INDEX pv_thumbs_at ON pv_thumbs (site_id, camera_id, at_ms);
CREATE INDEX pv_thumbs_seg ON pv_thumbs (site_id, camera_id, stream, seg_start_ms);
CREATE TABLE pv_runs (
  site_id text NOT NULL,
  camera_id text NOT NULL,
  stream text NOT NULL,
  seg_start_ms bigint NOT NULL,
  start_ms bigint NOT NULL,
  end_ms bigint NOT NULL,
  peak integer NOT NULL
);
CREATE INDEX pv_runs_at ON pv_runs (site_id, camera_id, start_ms);
CREATE INDEX pv_runs_seg ON pv_runs (site_id, camera_id, stream, seg_start_ms);
-- One row once an upgraded installation's transfer.duckdb tables were copied (central/transfer/db.ts).
CREATE TABLE tr_moved_from_duckdb (
  moved_ms bigint NOT NULL
);

-- down
DROP TABLE pv_runs;
DROP TABLE pv_thumbs;
DROP TABLE pv_segments;
DROP TABLE tr_moved_from_duckdb;
DROP TABLE tr_alarms;
DROP TABLE tr_retrieval_quality;
DROP TABLE tr_offload;
DROP TABLE tr_lost;
DROP TABLE tr_locks;
DROP TABLE tr_live_override;
DROP TABLE tr_live_usage;
DROP TABLE tr_edge_usage;
DROP TABLE tr_usage_daily;
DROP TABLE tr_usage;
DROP TABLE tr_commits;
DROP TABLE tr_retrievals;
