-- Central's segment index (central/media, docs/design/central-cluster.md "Recordings on shared
-- storage"): one row per segment central holds, pointing at its blob in the blob store
-- (lib/blob). The blob is durable before its row commits; the primary key decides "exactly
-- once" (a second commit of the same segment conflicts and compares sha256). blob_key is
-- unique per write, so a duplicate's blob can be deleted without touching the kept one.
-- frags: the segment's fragment table (lib/mp4/fragtable.ts) so playback plans without
-- reading the blob. Gaps are central's own (live recorder) per stream. media_imports records
-- that an older installation's DuckDB index (DATA/store) was copied in, once. Times: epoch ms.

-- up
CREATE TABLE media_segments (
  site_id text NOT NULL,
  camera_id text NOT NULL,
  stream text NOT NULL CHECK (stream IN ('main', 'sub')),
  start_ms bigint NOT NULL,
  end_ms bigint NOT NULL,
  bytes bigint NOT NULL,
  mime text NOT NULL,
  width integer,
  height integer,
  sha256 text NOT NULL,
  blob_key text NOT NULL UNIQUE,
  frags bytea,
  committed_ms bigint NOT NULL,
  PRIMARY KEY (site_id, camera_id, stream, start_ms)
);
CREATE INDEX media_segments_end ON media_segments (site_id, camera_id, stream, end_ms);
CREATE TABLE media_gaps (
  site_id text NOT NULL,
  camera_id text NOT NULL,
  stream text NOT NULL CHECK (stream IN ('main', 'sub')),
  start_ms bigint NOT NULL,
  end_ms bigint,
  reason text NOT NULL,
  detail text,
  PRIMARY KEY (site_id, camera_id, stream, start_ms)
);
CREATE TABLE media_imports (
  source text PRIMARY KEY,
  imported_ms bigint NOT NULL,
  segments integer NOT NULL,
  gaps integer NOT NULL
);

-- down
DROP TABLE media_imports;
DROP TABLE media_gaps;
DROP TABLE media_segments;
