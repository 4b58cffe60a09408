/**
 * `outpost edge`: `enroll` (this module: federation identity) or run the recorder
 * (edge/main.ts, loaded lazily so enrollment does not load the recorder).
 */
import { CliError, parseOptions, requireOption, type Command } from "../../lib/cli/index.ts";

const usage = `usage:
  outpost edge --config FILE [--mqtt-url mqtts://HOST:PORT]      run the edge recorder; --mqtt-url: an external
                                                                 broker instead of the one given at enrollment
  outpost edge enroll --central URL --token TOKEN --data DIR     enroll this edge with central
      URL is central's enrollment URL as printed with the token (https://HOST:8444);
      the key is generated here and never leaves DIR/identity/.`;

const command: Command = {
  summary: "run an edge recorder; enroll it with central",
  usage,
  async run(argv) {
    if (argv[0] === "enroll") return enrollCmd(argv.slice(1));
    const { runEdge } = await import("../../edge/main.ts");
    return runEdge(argv);
  },
};
export default command;

async function enrollCmd(argv: string[]): Promise<number> {
  const { values } = parseOptions(argv, { central: { type: "string" }, token: { type: "string" }, data: { type: "string" } }, usage);
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const centralUrl = requireOption(values, "central", usage);
  const token = requireOption(values, "token", usage);
  const dataDir = requireOption(values, "data", usage);
  const { enroll, EnrollError } = await import("../../edge/identity/index.ts");
  const t0 = performance.now();
  try {
    const id = await enroll({ centralUrl, token, dataDir });
    console.log(`enrolled as site ${id.siteId} (${id.siteName}) in ${Math.round(performance.now() - t0)} ms`);
    console.log(`certificate valid until ${new Date(id.notAfter).toISOString()}; identity in ${dataDir}/identity/`);
    console.log(`federation ${id.federationUrl}  mqtt ${id.mqttUrl}`);
    return 0;
  } catch (e) {
    if (e instanceof EnrollError) throw new CliError(`enrollment failed: ${e.message}`, 1);
    throw e;
  }
}
