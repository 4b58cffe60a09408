/**
 * `outpost check --data DIR [--rebuild] [--json]`: verifies a media store (edge or central)
 * against its index and, with --rebuild, derives a new index from what is on disk.
 * Exit 0 = consistent, 1 = problems found, 2 = usage or not a store / store in use,
 * 3 = unclean shutdown whose traces the recorder's next start recovers (no corruption).
 */
import { CliError, parseOptions, requireOption, type Command } from "../../lib/cli/index.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { checkStore, type CheckReport } from "../../lib/store/index.ts";
import { rebuildCustody } from "../../federation/custody/index.ts";

const usage = `usage: outpost check --data DIR [--rebuild] [--json]

Verifies the media store in DIR against its index: index rows without files, files
without rows, size and SHA-256 mismatches, torn tails, unplayable files, and the gap
journal and evidence locks versus the index.

  --data DIR   the store's data directory (the one holding index.sqlite and media/)
  --rebuild    throw the index away and rebuild it from disk alone (segments, gaps,
               evidence locks); torn tails are trimmed and unplayable files removed;
               custody chains get the segments they lack appended (signed at the
               recorder's next signature)
  --json       print the report as JSON

The recorder that owns DIR must be stopped first (the index has one owning process).
After a power cut the open segment has no index row yet, its tail may be torn and the gap
journal may be ahead of the index: the recorder's next start recovers all of that, so
check reports it as "unclean shutdown, recovered on start" (exit 3), not as corruption.

Exit status:
  0  consistent: disk and index agree
  1  problems found that a normal start does not explain (corruption, foreign files)
  2  bad usage / not a store / store in use
  3  unclean shutdown only: the next start recovers everything found (no --rebuild needed)`;

const command: Command = {
  summary: "verify a store (edge or central) against its index; rebuild the index from disk",
  usage,
  async run(argv) {
    const { values, positionals } = parseOptions(argv, { data: { type: "string" }, rebuild: { type: "boolean" }, json: { type: "boolean" } }, usage);
    if (values.help) {
      console.log(usage);
      return 0;
    }
    if (positionals.length) throw new CliError(`unexpected argument '${positionals[0]}'\n\n${usage}`);
    const data = requireOption(values, "data", usage);
    const sink = new MemorySink();
    let report: CheckReport;
    try {
      report = await checkStore(data, { rebuild: !!values.rebuild, log: new Logger({ component: "check", sink }) });
    } catch (e) {
      const name = (e as Error).name;
      if (name === "NotAStoreError" || name === "StoreLockedError") throw new CliError((e as Error).message);
      throw e;
    }
    let custody: { appended: number } | undefined;
    if (values.rebuild) custody = await rebuildCustody(data, new Logger({ component: "check", sink }));
    if (values.json) console.log(JSON.stringify(custody ? { ...report, custody } : report, null, 2));
    else console.log(format(report) + (custody ? `\ncustody chains: ${custody.appended} segment(s) appended` : ""));
    return report.ok ? 0 : report.problems.length ? 1 : 3;
  },
};

function format(r: CheckReport): string {
  const lines: string[] = [`store ${r.root}`];
  if (r.rebuilt) {
    lines.push(`before rebuild: ${r.before?.length ? `${r.before.length} problem(s)` : "consistent"}`);
    for (const p of r.before ?? []) lines.push(`  - ${p.kind}${p.path ? ` ${p.path}` : ""}: ${p.detail}`);
    const counts = new Map<string, number>();
    for (const a of r.actions ?? []) counts.set(a.action, (counts.get(a.action) ?? 0) + 1);
    lines.push(`rebuilt the index from disk: ${[...counts].map(([k, n]) => `${n} ${k}`).join(", ") || "nothing to do"}`);
    for (const a of r.actions ?? []) if (a.action !== "indexed-orphan") lines.push(`  - ${a.action}${a.path ? ` ${a.path}` : ""}: ${a.detail}`);
  }
  lines.push(`${r.files} segment files (${mib(r.bytes)}), ${r.rows} index rows, ${r.gaps} gaps, ${r.locks} evidence locks; last run ${r.clean ? "closed cleanly" : "did not close cleanly (or is running)"}`);
  if (r.ok) lines.push("OK: disk and index agree");
  if (r.recoverable.length) {
    lines.push(`UNCLEAN SHUTDOWN, recovered on start (${r.recoverable.length}): the recorder's next start repairs these by itself; no --rebuild needed`);
    for (const p of r.recoverable) lines.push(`  - ${p.kind}${p.path ? ` ${p.path}` : ""}: ${p.detail}`);
  }
  if (r.problems.length) {
    lines.push(`PROBLEMS (${r.problems.length}):`);
    for (const p of r.problems) lines.push(`  - ${p.kind}${p.path ? ` ${p.path}` : ""}: ${p.detail}`);
    if (!r.rebuilt) lines.push("Run `outpost check --data DIR --rebuild` (with the recorder stopped) to rebuild the index from disk.");
  }
  return lines.join("\n");
}

function mib(n: number): string {
  return `${(n / 1048576).toFixed(1)} MiB`;
}

export default command;
