/**
 * Preloaded by every `bun test` (bunfig.toml): new embedded databases (central/db, PGlite)
 * copy one initialized data directory instead of each running initdb (tens of seconds on a
 * busy machine). Child processes (`outpost central` in system tests) inherit the variable. Its
 * name has no OUTPOST_ prefix: OUTPOST_<KEY> variables are config keys (lib/config).
 */
import { pgliteTemplateDir } from "../central/db/testkit.ts";

process.env.PGLITE_TEMPLATE_DIR ??= pgliteTemplateDir();
