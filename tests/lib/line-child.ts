/**
 * A child process that speaks a line protocol on stdin/stdout (tests' edge children): prints
 * READY when up, answers a command line with `OK <cmd>` (or `ERR …`) after any output lines.
 * spawnLineChild is the test's side; say and serveLines the child's.
 */
import type { Subprocess } from "bun";

export interface LineChild {
  proc: Subprocess<"pipe", "pipe", "inherit">;
  /** Sends one command line; resolves with the lines up to its OK/ERR. */
  send(cmd: string): Promise<string[]>;
}

export async function spawnLineChild(cmd: string[], label: string): Promise<LineChild> {
  const proc = Bun.spawn(cmd, { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  const lines: string[] = [];
  const waiters: (() => void)[] = [];
  void (async () => {
    let buf = "";
    for await (const chunk of proc.stdout) {
      buf += new TextDecoder().decode(chunk);
      const parts = buf.split("\n");
      buf = parts.pop()!;
      for (const l of parts) if (l.startsWith("ERR")) console.error(`${label}:`, l);
      lines.push(...parts);
      for (const w of waiters.splice(0)) w();
    }
  })();
  // A generous bound (loaded machine): a child that stops answering fails this command with its
  // name instead of hanging until the test's timeout (which also kills every other process).
  const waitFor = async (pred: (l: string) => boolean, what: string, timeoutMs = 180_000) => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const i = lines.findIndex(pred);
      if (i >= 0) return lines.splice(0, i + 1);
      if (proc.exitCode !== null) throw new Error(`${label} exited with ${proc.exitCode}`);
      if (Date.now() > end) throw new Error(`${label} did not answer ${what} within ${timeoutMs / 1000} s`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 200);
      });
    }
  };
  await waitFor((l) => l === "READY", "READY");
  return {
    proc,
    async send(c) {
      proc.stdin.write(c + "\n");
      await proc.stdin.flush();
      return waitFor((l) => l === `OK ${c.split(" ")[0]}` || l.startsWith("ERR"), `'${c}'`);
    },
  };
}

/** The child's side: one line to the test. */
export const say = (s: string): void => void process.stdout.write(s + "\n");

/**
 * The child's side, once it is up: prints READY, then runs each command line from stdin through
 * `handle`, one at a time in order (`handle` prints its lines and `OK <cmd>`); a command that
 * throws is answered `ERR <message>`. Returns when stdin closes.
 */
export async function serveLines(handle: (line: string) => Promise<void>): Promise<void> {
  say("READY");
  let buf = "";
  let chain = Promise.resolve();
  for await (const chunk of Bun.stdin.stream()) {
    buf += new TextDecoder().decode(chunk);
    const lines = buf.split("\n");
    buf = lines.pop()!;
    for (const l of lines) if (l.trim()) chain = chain.then(() => handle(l)).catch((e) => void say(`ERR ${(e as Error).message}`));
  }
}
