/**
 * The central site as `outpost central` and `outpost demo` run it: parse the config, compose
 * every module (central/compose.ts), started. Focused tests may start the skeleton alone
 * (startCentral) and wire only what they test.
 */
import { CentralConfig, type CentralConfigInput } from "./index.ts";
import { composeCentral, type CentralOverrides, type CentralSite } from "./compose.ts";

export { composeCentral, type CentralOverrides, type CentralSite };

export async function startCentralSite(input: CentralConfigInput | CentralConfig, o: CentralOverrides = {}): Promise<CentralSite> {
  return composeCentral(CentralConfig.parse(input), o);
}
