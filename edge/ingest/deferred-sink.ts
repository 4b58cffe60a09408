/**
 * A fragment sink whose store is not open yet, so camera sessions start while the store opens
 * (crash recovery, the index database). edge/main.ts starts native sessions at once (they hand
 * fragments over without waiting); gstreamer cameras start once the store is open: held, the
 * sink stops a pipeline's reads and its stall watchdog fires (docs/design/ingest.md, start order).
 *
 * Every call goes through `target` in call order (init, fragment, end), so the writer sees what
 * it would have seen had it been there from the start. A held fragment keeps its arrival time:
 * the host time its caller stamped (footage is filed when it arrived, not when the store opened)
 * and the monotonic time read here (so the writer does not take a backlog delivered at once for
 * a host-clock step). What is held is bounded (maxHeldBytes): past it a fragment fails, and the
 * ingest ends that session and retries, as for any store failure. If the store never opens,
 * fragments fail with its error and ending a session is a no-op (nothing was recorded).
 */
import type { Clock } from "../../lib/clock.ts";
import type { FragmentSink } from "./stream.ts";

/** Per stream: about a minute of a 2 Mbit/s stream (recovery of a large store walks all of it). */
export const MAX_HELD_BYTES = 16 * 1024 * 1024;

export function deferredSink(target: Promise<FragmentSink>, clock: Clock, maxHeldBytes = MAX_HELD_BYTES): FragmentSink {
  let open = false;
  let held = 0;
  const ready = target.then((s) => {
    open = true;
    return s;
  });
  ready.catch(() => undefined); // a store that fails to open is reported by whoever awaits `target`
  return {
    init(bytes, info) {
      void ready.then(
        (s) => s.init(bytes, info),
        () => undefined,
      );
    },
    fragment(bytes, info, receivedAtMs, receivedMonoMs) {
      const mono = receivedMonoMs ?? clock.monotonic?.();
      if (!open) {
        if (held + bytes.length > maxHeldBytes) return Promise.reject(new Error(`the store is not open yet and ${held} bytes already wait for it`));
        held += bytes.length;
      }
      const counted = !open;
      return ready.then((s) => {
        if (counted) held -= bytes.length;
        return s.fragment(bytes, info, receivedAtMs, mono);
      });
    },
    end(reason, detail) {
      return ready.then(
        (s) => s.end(reason, detail),
        () => undefined,
      );
    },
  };
}
