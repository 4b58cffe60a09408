/**
 * Child process for the kill -9 test: opens a store and records an endless looped test
 * stream, printing "F <segmentStartMs> <fsyncedEndMs>" after each fragment is on disk.
 * Usage: bun recorder.ts ROOT SRC.mp4
 */
import { Logger, MemorySink } from "../../log/index.ts";
import { MediaStore } from "../index.ts";
import { fragmentAt, readMedia } from "./media.ts";

const [root, src] = process.argv.slice(2) as [string, string];
const media = await readMedia(src);

// Media runs ~30× faster than real time here, so the host clock is faked to match it (wall and
// monotonic alike): a run starts after the previous run's footage, as a real clock would.
let base = Date.now();
let mediaNow = 0;
const clock = { now: () => base + mediaNow, monotonic: () => mediaNow };
const store = await MediaStore.open({ root, clock, segmentDurationMs: 2000, minFreeBytes: 0, log: new Logger({ component: "store", sink: new MemorySink() }) });
const prev = Math.max(0, ...(await store.cameras()).map((c) => c.lastMs));
base = Math.max(base, prev + 1000);
const w = store.writer("cam1", "main");
w.init(media.init, media.info);
for (let n = 0; ; n++) {
  const f = fragmentAt(media, n);
  mediaNow = f.info.startMs + f.info.durationMs;
  await w.fragment(f.bytes, f.info, base + mediaNow);
  const cur = w.current();
  if (cur) process.stdout.write(`F ${cur.startMs} ${cur.endMs}\n`);
  await Bun.sleep(15);
}
