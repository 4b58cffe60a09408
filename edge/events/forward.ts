/**
 * The edge's warnings and errors → central's system log, through the uplink's outbox
 * (Uplink.logForwarder). A LogSink that the edge logger tees into from its first line, before
 * the uplink exists: records until then are held (bounded) and sent once it is attached; the
 * uplink is looked up per record because it is replaced when the certificate rotates.
 * Records arrive already redacted by the Logger.
 */
import type { LogRecord, LogSink } from "../../lib/log/index.ts";
import type { Uplink } from "../uplink/index.ts";

type Forwarder = ReturnType<Uplink["logForwarder"]>;

export class UplinkLogSink implements LogSink {
  private get: (() => Uplink | undefined) | undefined;
  private held: LogRecord[] = [];
  private forwarders = new WeakMap<Uplink, Forwarder>();

  constructor(private readonly o: { level?: "warn" | "error"; hold?: number } = {}) {}

  /** Starts forwarding (and sends what was held). */
  attach(get: () => Uplink | undefined): void {
    this.get = get;
    const held = this.held;
    this.held = [];
    for (const r of held) this.write(r);
  }

  /** No forwarding any more (edge stopping; not enrolled). */
  detach(): void {
    this.get = undefined;
    this.held = [];
  }

  write(rec: LogRecord): void {
    if (rec.level !== "error" && (rec.level !== "warn" || this.o.level === "error")) return;
    // The event module's own complaints about the uplink would only queue behind the same uplink.
    if (rec.component === "edge.events.forward") return;
    const uplink = this.get?.();
    if (!uplink) {
      if (this.get === undefined) {
        this.held.push(rec);
        if (this.held.length > (this.o.hold ?? 200)) this.held.shift();
      }
      return;
    }
    let f = this.forwarders.get(uplink);
    if (!f) this.forwarders.set(uplink, (f = uplink.logForwarder(this.o.level ?? "warn")));
    const { t, level, component, msg, ...fields } = rec;
    // Central's system log reads {t, level, component, msg, fields}; `camera` stays on top for the share filter.
    f.write({ t, level, component, msg, ...(typeof fields.camera === "string" ? { camera: fields.camera } : {}), fields });
  }
}
