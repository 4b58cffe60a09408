-- Enrolled sites and every certificate central issued to them (central/registry.ts). A site's
-- current and pending (rotation) certificates are JSON text {serial, notBefore, notAfter, pem};
-- times are ISO 8601 text.

-- up
CREATE TABLE sites (
  id text PRIMARY KEY,
  name text NOT NULL,
  state text NOT NULL CHECK (state IN ('active', 'revoked')),
  enrolled_at text NOT NULL,
  revoked_at text,
  revoked_reason text,
  current_cert text,
  pending_cert text,
  last_seen_at text
);
CREATE TABLE certificates (
  serial text PRIMARY KEY,
  site_id text NOT NULL,
  issued_at text NOT NULL,
  not_before text NOT NULL,
  not_after text NOT NULL,
  pem text NOT NULL
);
CREATE INDEX certificates_site ON certificates (site_id);

-- down
DROP TABLE certificates;
DROP TABLE sites;
