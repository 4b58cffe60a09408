#!/usr/bin/env bun
/**
 * The `outpost` command: one entry point, one module per sub-command under cli/commands/.
 * Modules are imported lazily so `outpost camsim` does not load DuckDB, and so on.
 */
// First: @peculiar/x509 (via tsyringe) needs the Reflect polyfill before it loads, and a
// bundled executable evaluates modules in the order the entry imports them.
import "reflect-metadata";
import { CliError, type Command } from "../lib/cli/index.ts";
import { ConfigError } from "../lib/config/index.ts";
import { DataDirLockedError } from "../lib/lock/index.ts";
import { privateUmask } from "../lib/fsutil.ts";
import { startMark } from "../lib/starttrace.ts";

startMark("cli loaded");

const commands: Record<string, () => Promise<{ default: Command }>> = {
  demo: () => import("./commands/demo.ts"),
  central: () => import("./commands/central.ts"),
  edge: () => import("./commands/edge.ts"),
  camsim: () => import("./commands/camsim.ts"),
  check: () => import("./commands/check.ts"),
  firmware: () => import("./commands/firmware.ts"),
  verify: () => import("./commands/verify.ts"),
};

/**
 * Commands that keep data (recordings, keys, password hashes): every file they create is 0600
 * (firmware's data-keeping sub-commands set it themselves; its build output stays as usual).
 */
const PRIVATE_DATA = new Set(["demo", "central", "edge"]);

async function usage(): Promise<string> {
  const lines = ["usage: outpost <command> [options]", "", "commands:"];
  for (const [name, load] of Object.entries(commands)) {
    try {
      lines.push(`  ${name.padEnd(10)} ${(await load()).default.summary}`);
    } catch {
      // A command whose module is not built yet is simply not listed.
    }
  }
  lines.push("", "Run `outpost <command> --help` for the options of a command.");
  return lines.join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(await usage());
    return name ? 0 : 2;
  }
  const load = commands[name];
  if (!load) {
    console.error(`outpost: unknown command '${name}'\n\n${await usage()}`);
    return 2;
  }
  if (PRIVATE_DATA.has(name)) privateUmask();
  const cmd = (await load()).default;
  // --help anywhere before "--" (after it, arguments belong to another program): `outpost firmware build --help`.
  const own = rest.includes("--") ? rest.slice(0, rest.indexOf("--")) : rest;
  if (own.includes("--help") || own.includes("-h")) {
    console.log(cmd.usage);
    return 0;
  }
  return cmd.run(rest);
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  if (e instanceof CliError) {
    console.error(`outpost: ${e.message}`);
    process.exitCode = e.exitCode;
  } else if (e instanceof DataDirLockedError) {
    // Another central or edge runs on this data dir: its PID, no stack trace.
    console.error(`outpost: ${e.message}`);
    process.exitCode = 75; // EX_TEMPFAIL: it may be started once the other one has stopped
  } else if (e instanceof ConfigError) {
    console.error(`outpost: ${e.message}`);
    process.exitCode = 78; // EX_CONFIG
  } else {
    console.error(`outpost: ${(e as Error).stack ?? e}`);
    process.exitCode = 1;
  }
}
