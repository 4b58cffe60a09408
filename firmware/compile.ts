/**
 * `bun firmware/compile.ts ENTRY OUTFILE` (run by build.ts, working directory = repository
 * root): the web client is built first and embedded as web/prebuilt.ts, then ENTRY is compiled
 * into one executable (`bun build --compile`), so the compiled edge and central serve the
 * client without sources. DuckDB's bindings for other platforms stay out (they cannot resolve).
 */
import path from "node:path";
import { buildWeb, prebuiltModule } from "../web/build.ts";

export const DUCKDB_PLATFORMS = ["darwin-arm64", "darwin-x64", "linux-arm64", "linux-arm64-musl", "linux-x64", "linux-x64-musl", "win32-x64", "win32-arm64"];

export async function compileWithWeb(entry: string, outfile: string, opts: { bytecode?: boolean } = {}): Promise<void> {
  const web = prebuiltModule(await buildWeb());
  const here = `${process.platform}-${process.arch}`;
  const out = await Bun.build({
    entrypoints: [entry],
    compile: { outfile },
    // Bytecode: the executable carries JavaScriptCore bytecode beside the source, so a start skips
    // parsing. ESM output keeps the entry's top-level await (the default CJS format has none).
    ...(opts.bytecode ? { bytecode: true, format: "esm" as const } : {}),
    external: DUCKDB_PLATFORMS.filter((p) => p !== here).map((p) => `@duckdb/node-bindings-${p}/duckdb.node`),
    files: { [path.resolve(import.meta.dir, "..", "web", "prebuilt.ts")]: web },
    throw: false,
  });
  if (!out.success) throw new Error(`bun build --compile failed:\n${out.logs.map((l) => String(l)).join("\n")}`);
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const [entry, outfile] = args.filter((a) => !a.startsWith("--"));
  if (!entry || !outfile) {
    console.error("usage: bun firmware/compile.ts ENTRY OUTFILE [--bytecode]");
    process.exit(2);
  }
  await compileWithWeb(entry, outfile, { bytecode: args.includes("--bytecode") });
}
