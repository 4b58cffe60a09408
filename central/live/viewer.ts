/**
 * A WebSocket live viewer for tests and benchmarks (Bun's WebSocket client): counts messages,
 * keeps the stream header, notes arrival times. Also runnable as a child process
 * (`bun central/live/viewer.ts URL TOKEN`) so a test can SIGSTOP it (a viewer that stops reading).
 */
export class TestViewer {
  ws: WebSocket;
  header: { type: string; mime: string; width: number; height: number } | undefined;
  texts: { type: string; [k: string]: unknown }[] = [];
  fragments = 0;
  bytes = 0;
  inits = 0;
  closed: { code: number; reason: string } | undefined;
  /** Date.now() when the socket closed. */
  closedAt: number | undefined;
  opened = false;
  lastAt = 0;
  /** Called for every fragment with its bytes. */
  onFragment: ((b: Uint8Array) => void) | undefined;
  private expectInit = false;

  constructor(url: string, token?: string) {
    this.ws = new WebSocket(url, (token ? { headers: { authorization: `Bearer ${token}` } } : {}) as never);
    this.ws.binaryType = "arraybuffer";
    this.ws.onopen = () => (this.opened = true);
    this.ws.onmessage = (e) => {
      if (typeof e.data === "string") {
        const m = JSON.parse(e.data) as { type: string; mime: string; width: number; height: number };
        this.texts.push(m);
        if (m.type === "stream") {
          this.header = m;
          this.expectInit = true;
        }
        return;
      }
      const b = new Uint8Array(e.data as ArrayBuffer);
      this.bytes += b.length;
      this.lastAt = Date.now();
      if (this.expectInit) {
        this.expectInit = false;
        this.inits++;
        return;
      }
      this.fragments++;
      this.onFragment?.(b);
    };
    this.ws.onclose = (e) => {
      this.closedAt = Date.now();
      this.closed = { code: e.code, reason: e.reason };
    };
    this.ws.onerror = () => undefined;
  }

  close(): void {
    this.ws.close();
  }
}

if (import.meta.main) {
  const [url, token] = process.argv.slice(2);
  const v = new TestViewer(url!, token);
  setInterval(() => console.log(JSON.stringify({ fragments: v.fragments, bytes: v.bytes })), 1000);
}
