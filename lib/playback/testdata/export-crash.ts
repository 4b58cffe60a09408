/**
 * Child process for the export crash test: requests N exports over a FileSource holding one
 * clip, prints their ids as one JSON line once every request was answered, and keeps running
 * until the test kills it with -9 in the middle of the queue.
 * Usage: bun export-crash.ts DIR CLIP T0 N
 */
import { join } from "node:path";
import { systemClock } from "../../clock.ts";
import { Exporter } from "../export.ts";
import { Playback } from "../playback.ts";
import { FileSource } from "../testkit.ts";

const [dir, clip, t0s, ns] = process.argv.slice(2) as [string, string, string, string];
const T0 = Number(t0s);
const source = new FileSource(join(dir, "store"));
source.add("cam1", "main", T0, clip);
const exp = new Exporter({ playback: new Playback({ source }), dir: join(dir, "exports"), clock: systemClock });
const ids: string[] = [];
for (let i = 0; i < Number(ns); i++) ids.push((await exp.start({ cameraId: "cam1", fromMs: T0 + 500, toMs: T0 + 3500 })).id);
process.stdout.write(JSON.stringify(ids) + "\n");
await new Promise(() => undefined);
