/**
 * Playback's `stream=best`: the stream central holds more of in the window — main, unless the
 * sub stream covers more of it (a sub-then-main retrieval whose main part has not arrived yet,
 * or a sub-only retrieval). Nothing is retrieved for it: it shows what central has now.
 */
import type { StreamKind } from "../../lib/store/index.ts";

type Ranges = (id: string, stream: string, fromMs: number, toMs: number) => Promise<{ startMs: number; endMs: number }[]>;

export async function bestStream(held: Ranges, cameraId: string, fromMs: number, toMs: number): Promise<StreamKind> {
  const covered = async (s: StreamKind) => (await held(cameraId, s, fromMs, toMs)).reduce((a, r) => a + Math.min(r.endMs, toMs) - Math.max(r.startMs, fromMs), 0);
  const main = await covered("main");
  return main > 0 && main >= toMs - fromMs - 1000 ? "main" : (await covered("sub")) > main ? "sub" : "main";
}
