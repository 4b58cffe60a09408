-- Users, their login sessions, roles and camera groups (central/users), API keys
-- (central/events/keys.ts), RTSP stream credentials (central/live/rtsp/credentials.ts) and
-- saved live views (central/web/views.ts). Times are ISO 8601 text or epoch milliseconds,
-- as the modules have always stored them; role and group bodies are JSON text.

-- up
CREATE TABLE users (
  name text PRIMARY KEY,
  password_hash text NOT NULL,
  role text NOT NULL,
  roles text NOT NULL,
  disabled boolean NOT NULL DEFAULT false,
  created_at text NOT NULL
);
CREATE TABLE sessions (
  token_hash text PRIMARY KEY,
  user_name text NOT NULL,
  expires_at text NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_name);
CREATE TABLE roles (name text PRIMARY KEY, json text NOT NULL);
CREATE TABLE camera_groups (name text PRIMARY KEY, json text NOT NULL);
CREATE TABLE api_keys (
  id text PRIMARY KEY,
  key_hash text NOT NULL UNIQUE,
  name text NOT NULL,
  site_id text,
  created_by text NOT NULL,
  created_at text NOT NULL
);
CREATE TABLE rtsp_credentials (
  id text PRIMARY KEY,
  user_name text NOT NULL,
  label text NOT NULL,
  secret_hash text NOT NULL UNIQUE,
  created_at text NOT NULL
);
CREATE TABLE web_views (
  user_name text NOT NULL,
  name text NOT NULL,
  body text NOT NULL,
  updated_ms bigint NOT NULL,
  PRIMARY KEY (user_name, name)
);

-- down
DROP TABLE web_views;
DROP TABLE rtsp_credentials;
DROP TABLE api_keys;
DROP TABLE camera_groups;
DROP TABLE roles;
DROP TABLE sessions;
DROP TABLE users;
