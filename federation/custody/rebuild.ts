/**
 * `outpost check --rebuild` for custody: appends to each stream's chain the indexed segments
 * it lacks (a crash between a segment's commit and its chain append, or a chain file lost).
 * No key is at hand here, so the appended entries stay unsigned until the recorder's next
 * signature, which covers them through the chain links (its signing time tells when).
 */
import { systemClock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import { MediaStore } from "../../lib/store/index.ts";
import { CustodyRecorder } from "./recorder.ts";

export async function rebuildCustody(root: string, log: Logger): Promise<{ appended: number }> {
  const store = await MediaStore.open({ root, log, maintenance: true, minFreeBytes: 0 });
  try {
    const r = await CustodyRecorder.attach(store, { clock: systemClock, log, signer: () => null, signEveryMs: 0, reconcile: false });
    try {
      return { appended: await r.reconcile(store) };
    } finally {
      r.close();
    }
  } finally {
    await store.close();
  }
}
