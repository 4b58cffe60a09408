/** A keyed set of LiveHubs (one per camera/stream), each with a lazily created HLS packager. */
import { LiveHub, type HubOptions } from "./hub.ts";
import { HlsPackager, type HlsOptions } from "./hls.ts";

export class LiveHubs {
  private hubs = new Map<string, { hub: LiveHub; hls?: HlsPackager }>();
  constructor(private readonly o: { hub?: HubOptions; hls?: HlsOptions } = {}) {}

  get(key: string): LiveHub {
    let e = this.hubs.get(key);
    if (!e) {
      e = { hub: new LiveHub(key, this.o.hub) };
      this.hubs.set(key, e);
    }
    return e.hub;
  }

  peek(key: string): LiveHub | undefined {
    return this.hubs.get(key)?.hub;
  }

  hls(key: string): HlsPackager {
    this.get(key);
    const e = this.hubs.get(key)!;
    e.hls ??= new HlsPackager(e.hub, this.o.hls);
    return e.hls;
  }

  keys(): string[] {
    return [...this.hubs.keys()];
  }

  close(): void {
    for (const e of this.hubs.values()) {
      e.hls?.close();
      e.hub.closeAll(1001, "server stopping");
    }
    this.hubs.clear();
  }
}
