-- The partition epoch a live recording's segment row was committed under (central/cluster):
-- the writer's insert is fenced by it, so a node that lost the site's partition cannot commit.
-- NULL for imported segments and rows recovered from files (not written by a fenced writer).
-- up
ALTER TABLE media_segments ADD COLUMN epoch bigint;

-- down
ALTER TABLE media_segments DROP COLUMN epoch;
