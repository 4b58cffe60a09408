#!/usr/bin/env bun
/**
 * Entry point of the appliance executable: the `outpost` CLI restricted to what an edge runs
 * (edge, firmware, check). Central, demo and camsim stay out of the edge binary — smaller, and
 * an edge build does not depend on central code. `outpost firmware build --entry cli/outpost.ts`
 * builds the full CLI instead.
 */
// First: @peculiar/x509 (via tsyringe) needs the Reflect polyfill before it loads, and a
// bundled executable evaluates modules in the order the entry imports them.
import "reflect-metadata";
import { CliError, type Command } from "../lib/cli/index.ts";
import { ConfigError } from "../lib/config/index.ts";

const commands: Record<string, () => Promise<{ default: Command }>> = {
  edge: () => import("../cli/commands/edge.ts"),
  firmware: () => import("../cli/commands/firmware.ts"),
  check: () => import("../cli/commands/check.ts"),
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const load = name ? commands[name] : undefined;
  if (!load) {
    const lines = ["usage: outpost <command> [options]", "", "commands (edge appliance):"];
    for (const [n, l] of Object.entries(commands)) lines.push(`  ${n.padEnd(10)} ${(await l()).default.summary}`);
    console.log(lines.join("\n"));
    return name && name !== "--help" && name !== "-h" ? 2 : 0;
  }
  const cmd = (await load()).default;
  if (rest.length === 1 && (rest[0] === "--help" || rest[0] === "-h")) {
    console.log(cmd.usage);
    return 0;
  }
  return cmd.run(rest);
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  if (e instanceof CliError || e instanceof ConfigError) {
    console.error(`outpost: ${e.message}`);
    process.exitCode = e instanceof CliError ? e.exitCode : 78;
  } else {
    console.error(`outpost: ${(e as Error).stack ?? e}`);
    process.exitCode = 1;
  }
}
