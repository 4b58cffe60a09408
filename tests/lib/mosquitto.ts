/**
 * Debian's Mosquitto for tests, as an external broker for central and edges: mTLS with
 * central's CA and server certificate, require_certificate + use_identity_as_username, and the
 * ACL of docs/ref/federation.md (central's identity "central" on outpost/v1/sites/#, each site
 * on its own topics). A free port on loopback; its files in the test's own directory.
 */
import { writeFile } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import type { Subprocess } from "bun";
import { dataPaths } from "../../central/files.ts";
import { until } from "./cp.ts";

export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

export class Mosquitto {
  private proc: Subprocess | null = null;

  private constructor(
    readonly port: number,
    private readonly conf: string,
  ) {}

  /** The broker's process id (for CPU measurements), or null while stopped. */
  get pid(): number | null {
    return this.proc?.pid ?? null;
  }

  /** The broker's last log lines (its stderr, drained: an unread pipe would block the broker once full). */
  logTail = "";

  /** mqtts://localhost:port */
  get url(): string {
    return `mqtts://localhost:${this.port}`;
  }

  /** Writes the config (certificates of the central whose data directory is `centralDataDir`) into `dir` and starts the broker. */
  static async start(dir: string, centralDataDir: string): Promise<Mosquitto> {
    const port = await freePort();
    const p = dataPaths(centralDataDir);
    const acl = path.join(dir, "acl");
    await writeFile(acl, "user central\ntopic readwrite outpost/v1/sites/#\n\npattern readwrite outpost/v1/sites/%u/#\n");
    const conf = path.join(dir, "mosquitto.conf");
    await writeFile(
      conf,
      [
        "per_listener_settings false",
        "user root", // the test runs as root and its temp files are 0600
        "persistence false",
        "log_dest stderr",
        `listener ${port} 127.0.0.1`,
        `cafile ${p.caCert}`,
        `certfile ${p.serverCert}`,
        `keyfile ${p.serverKey}`,
        "tls_version tlsv1.2",
        "require_certificate true",
        "use_identity_as_username true",
        `acl_file ${acl}`,
        "",
      ].join("\n"),
    );
    const m = new Mosquitto(port, conf);
    await m.restart();
    return m;
  }

  /** Starts the broker again after stop() (same port and config). */
  async restart(): Promise<void> {
    const proc = Bun.spawn(["/usr/sbin/mosquitto", "-c", this.conf], { stdout: "ignore", stderr: "pipe" });
    this.proc = proc;
    void (async () => {
      for await (const chunk of proc.stderr) this.logTail = (this.logTail + new TextDecoder().decode(chunk)).slice(-16_384);
    })().catch(() => undefined);
    await until(
      "mosquitto listening",
      () =>
        new Promise<boolean>((r) => {
          const s = net.connect(this.port, "127.0.0.1", () => (s.destroy(), r(true)));
          s.on("error", () => r(false));
        }),
      10_000,
      50,
    );
  }

  async stop(): Promise<void> {
    this.proc?.kill("SIGTERM");
    await this.proc?.exited;
    this.proc = null;
  }
}
