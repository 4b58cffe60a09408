/**
 * Preloaded by every `bun test` (bunfig.toml): new embedded databases (central/db, PGlite)
 * copy one initialized data directory instead of each running initdb (tens of seconds on a
 * busy machine). Child processes (`outpost central` in system tests) inherit the variable.
 */
import { pgliteTemplateDir } from "../central/db/testkit.ts";

process.env.OUTPOST_PGLITE_TEMPLATE ??= pgliteTemplateDir();
