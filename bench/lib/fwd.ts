/**
 * Plain byte forwarder for the live bench's emulated link: `bun bench/lib/fwd.ts LISTEN TARGET`
 * where each is `unix:/path` or `host:port`. Run inside the edge's network namespace
 * (ip netns exec) it makes the edge → central TCP connection originate there, so it crosses
 * bench/lib/tunlink.py with the kernel's own TCP (handshake, slow start, congestion control).
 * Prints "READY" once listening. Owns nothing else.
 */
import net from "node:net";

export type Addr = { path: string } | { host: string; port: number };

export function addr(s: string): Addr {
  if (s.startsWith("unix:")) return { path: s.slice(5) };
  const i = s.lastIndexOf(":");
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

/** Starts a forwarder; resolves with the server (its port when listening on TCP port 0). */
export function forward(listen: Addr, target: Addr): Promise<net.Server> {
  const server = net.createServer((client) => {
    const up = "path" in target ? net.connect(target.path) : net.connect(target.port, target.host);
    if (!("path" in listen)) client.setNoDelay(true);
    if (!("path" in target)) up.setNoDelay(true);
    for (const s of [client, up]) s.on("error", () => s.destroy());
    client.pipe(up);
    up.pipe(client);
    client.on("close", () => up.destroy());
    up.on("close", () => client.destroy());
  });
  return new Promise((r) => ("path" in listen ? server.listen(listen.path, () => r(server)) : server.listen(listen.port, listen.host, () => r(server))));
}

if (import.meta.main) {
  const [l, t] = process.argv.slice(2);
  if (!l || !t) {
    console.error("usage: fwd.ts LISTEN TARGET (unix:/path or host:port)");
    process.exit(2);
  }
  await forward(addr(l), addr(t));
  console.log("READY");
}
