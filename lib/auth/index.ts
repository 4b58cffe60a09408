/**
 * Authentication shared by edge (local admin) and central (users): argon2id password hashes,
 * in-memory expiring bearer sessions (also sent as an HttpOnly cookie), login throttling, and
 * a Hono middleware that requires a session. Knows nothing about users' rights or storage.
 */
export * from "./password.ts";
export * from "./sessions.ts";
export * from "./throttle.ts";
export * from "./middleware.ts";
