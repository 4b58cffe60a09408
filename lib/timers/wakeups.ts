/**
 * One timer for the process's periodic work, so that work with some slack rides on a wake-up
 * that happens anyway. A recorder with one camera woke ~30 times a second for timers at their
 * own instants: the batched camera reads every 100 ms, the store's durability tick 250 ms after
 * a write, the stall watchdogs every second. Each wake-up is an epoll return and a turn of the
 * event loop (≈ 35 µs of CPU in Bun before any work), and timers armed for the same instant
 * from different moments still woke the loop about twice (measured, BENCHMARKS.md). Here each piece of
 * work says how late it may run (`ms`) and how much earlier it may run (`slackMs`): whenever the
 * shared timer fires, everything whose early bound has passed runs in the same turn.
 *
 * Running early is the only freedom taken: nothing runs later than asked (up to the event
 * loop's own delay, as with setTimeout).
 */

export interface Wakeup {
  /** Not run (a no-op once it ran). */
  cancel(): void;
}

interface Entry {
  fn: () => void;
  /** May run from this monotonic time (ms)... */
  earliest: number;
  /** ...and must by this one. */
  latest: number;
  /** Keeps the process alive while pending (a result someone awaits, not a periodic chore). */
  keepAlive: boolean;
}

type Handle = { unref?: () => void } | number | undefined;

export class Wakeups {
  private readonly entries = new Set<Entry>();
  private timer: Handle;
  /** The deadline the armed timer fires at. */
  private armedFor = Infinity;
  /** Whether the armed timer keeps the process alive. */
  private armedKeepsAlive = false;
  private firing = false;

  /** Injected in tests: the timer functions and the monotonic clock (ms). */
  constructor(
    private readonly schedule: (fn: () => void, ms: number) => Handle = setTimeout,
    private readonly unschedule: (h: Handle) => void = (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
    /** The monotonic time (ms) these wake-ups are scheduled by. */
    readonly now: () => number = () => performance.now(),
    private readonly immediate: (fn: () => void) => void = setImmediate,
  ) {}

  /**
   * Runs `fn` once when the current turn of the event loop is done (its microtasks included),
   * without a timer: work that follows from this turn's I/O — the fsync of the fragments the
   * batched camera reads just wrote — runs in the same wake-up instead of waking the loop again.
   */
  soon(fn: () => void): Wakeup {
    let cancelled = false;
    this.immediate(() => {
      if (cancelled) return;
      cancelled = true;
      try {
        fn();
      } catch (err) {
        console.error("timer callback failed:", err);
      }
    });
    return { cancel: () => void (cancelled = true) };
  }

  /**
   * Runs `fn` once, at most `ms` from now, or from `ms - slackMs` on if another wake-up of this
   * set fires then. The timer does not keep the process alive (as an unref'd setTimeout) unless
   * `keepAlive` is set: work whose result someone awaits (a sync being joined) must not be
   * dropped by an exiting event loop.
   */
  after(fn: () => void, ms: number, slackMs = 0, opts: { keepAlive?: boolean } = {}): Wakeup {
    const t = this.now();
    const e: Entry = { fn, earliest: t + Math.max(0, ms - Math.max(0, slackMs)), latest: t + Math.max(0, ms), keepAlive: opts.keepAlive === true };
    this.entries.add(e);
    if (!this.firing && (e.latest < this.armedFor || (e.keepAlive && !this.armedKeepsAlive))) this.arm();
    return {
      cancel: () => {
        // The timer armed for this entry alone would still wake the loop for nothing: re-arm.
        if (this.entries.delete(e) && !this.firing && e.latest <= this.armedFor) this.arm();
      },
    };
  }

  /** Pending wake-ups (tests). */
  get pending(): number {
    return this.entries.size;
  }

  private arm(): void {
    if (this.timer !== undefined) this.unschedule(this.timer);
    this.timer = undefined;
    this.armedFor = Infinity;
    this.armedKeepsAlive = false;
    let next = Infinity;
    let keepAlive = false;
    for (const e of this.entries) {
      if (e.latest < next) next = e.latest;
      keepAlive ||= e.keepAlive;
    }
    if (next === Infinity) return;
    this.armedFor = next;
    this.armedKeepsAlive = keepAlive;
    const h = this.schedule(() => this.fire(), Math.max(0, next - this.now()));
    if (typeof h === "object" && !keepAlive) h.unref?.();
    this.timer = h;
  }

  private fire(): void {
    this.timer = undefined;
    this.armedFor = Infinity;
    this.armedKeepsAlive = false;
    // Timers may fire a fraction of a millisecond before their deadline (whole-ms rounding).
    const t = this.now() + 1;
    const due = [...this.entries].filter((e) => e.earliest <= t);
    this.firing = true;
    try {
      for (const e of due) {
        if (!this.entries.delete(e)) continue; // cancelled by one run before it
        try {
          e.fn();
        } catch (err) {
          console.error("timer callback failed:", err);
        }
      }
    } finally {
      this.firing = false;
      this.arm();
    }
  }
}

/** The process's shared wake-ups (the store's durability tick, the batched camera reads, the watchdogs, joins of sync threads). */
export const wakeups = new Wakeups();
