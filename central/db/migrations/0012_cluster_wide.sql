-- What several central nodes must judge alike (docs/design/central-cluster.md, issue 17):
-- * site_presence.health / health_at_ms: the last health report of the site, carried by its
--   partition owner with its presence row (central/cluster/presence.ts: at most once per
--   flush interval, in the flush's one statement), so every node's GET /api/v1/site-health
--   lists every site.
-- * sessions.last_used_ms: a login session's last use on any node (central/users, written
--   throttled), so a session active on node A is not ended as idle by node B.
-- * a unique index on events.id: an event delivered twice through two nodes (a producer's
--   retry after a failover) is stored once (central/events inserts ON CONFLICT DO NOTHING).
--   Rows stored twice before this migration are reduced to one first.
-- Times are ms since the Unix epoch.

-- up
ALTER TABLE site_presence ADD COLUMN health jsonb;
ALTER TABLE site_presence ADD COLUMN health_at_ms bigint;
ALTER TABLE sessions ADD COLUMN last_used_ms bigint;
DELETE FROM events a USING events b WHERE a.id = b.id AND a.ctid > b.ctid;
CREATE UNIQUE INDEX events_id ON events (id);

-- down
DROP INDEX events_id;
ALTER TABLE sessions DROP COLUMN last_used_ms;
ALTER TABLE site_presence DROP COLUMN health_at_ms;
ALTER TABLE site_presence DROP COLUMN health;
