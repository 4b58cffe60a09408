/**
 * Helpers shared by every `outpost` sub-command: option parsing with a clear error for an
 * unknown or missing option, and the --help convention.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

export class CliError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
    this.name = "CliError";
  }
}

export interface Command {
  /** One line for `outpost --help`. */
  summary: string;
  /** Full usage text for `outpost CMD --help`. */
  usage: string;
  run(argv: string[]): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig["options"]>;

export function parseOptions<O extends Options>(argv: string[], options: O, usage: string) {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new CliError(`${(e as Error).message}\n\n${usage}`);
  }
}

export function requireOption(values: Record<string, unknown>, name: string, usage: string): string {
  const v = values[name];
  if (typeof v !== "string" || v === "") throw new CliError(`missing --${name}\n\n${usage}`);
  return v;
}

/**
 * Resolves when the process is asked to stop (SIGINT/SIGTERM). The handlers stay installed:
 * a stop often brings the same signal twice (systemd's KillMode=control-group signals every
 * process of the service, and the firmware launcher also forwards SIGTERM to its slot child),
 * and with a one-shot handler the second SIGTERM killed the process in the middle of its
 * clean shutdown (unclosed segment, no CLEAN marker). Repeated SIGTERMs are ignored; a second
 * SIGINT (an operator pressing Ctrl-C again) still ends the process at once.
 */
export function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    let got: string | null = null;
    const on = (sig: string) => () => {
      if (got === "SIGINT" && sig === "SIGINT") process.exit(130);
      got ??= sig;
      resolve(sig);
    };
    process.on("SIGINT", on("SIGINT"));
    process.on("SIGTERM", on("SIGTERM"));
  });
}
