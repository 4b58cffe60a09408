/**
 * Child process for the outbox kill -9 test: appends events as fast as it can and prints
 * "D <seq>" once each is durable. Usage: bun appender.ts DIR
 */
import { Logger, MemorySink } from "../../../lib/log/index.ts";
import { systemClock } from "../../../lib/clock.ts";
import { Outbox } from "../outbox.ts";

const dir = process.argv[2]!;
const box = await Outbox.open({ dir, clock: systemClock, log: new Logger({ component: "outbox", sink: new MemorySink() }), fileBytes: 64 * 1024 });
for (let i = 0; ; i++) {
  const seqs = await Promise.all(Array.from({ length: 20 }, (_, k) => box.append("event", { eventId: `e-${i}-${k}`, kind: "tick", atMs: Date.now(), data: { pad: "x".repeat(200) } })));
  process.stdout.write(seqs.map((s) => `D ${s}\n`).join(""));
}
