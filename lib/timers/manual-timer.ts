/** Tests: timer functions and a monotonic clock for `new Wakeups(m.schedule, m.unschedule, m.now)`, moved by hand. */

/** A manual timer: one pending timeout at a time (as Wakeups arms), fired by advancing the clock. */
export function manual() {
  const m = {
    t: 0,
    armed: [] as { fn: () => void; at: number; id: number }[],
    wakes: 0,
    nextId: 1,
    schedule: (fn: () => void, ms: number) => {
      const id = m.nextId++;
      m.armed.push({ fn, at: m.t + ms, id });
      return id;
    },
    unschedule: (h: unknown) => void (m.armed = m.armed.filter((a) => a.id !== h)),
    now: () => m.t,
    /** Moves time to `to`, firing each armed timeout at its deadline (one wake-up each). */
    advance(to: number) {
      for (;;) {
        m.armed.sort((a, b) => a.at - b.at);
        const first = m.armed[0];
        if (!first || first.at > to) break;
        m.armed.shift();
        m.t = first.at;
        m.wakes++;
        first.fn();
      }
      m.t = to;
    },
  };
  return m;
}
