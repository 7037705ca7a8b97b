import type { ChildProcess } from "node:child_process";
import { createServer, type AddressInfo } from "node:net";

/** SIGTERM (a server writes its CPU profile then), SIGKILL after `killAfterMs`; resolves once the process has exited. */
export async function stopChild(child: ChildProcess, killAfterMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
  await gone;
  clearTimeout(t);
}

/** A TCP port of 127.0.0.1 free right now, for a process the benchmark starts to listen on. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => {
        resolve(port);
      });
    });
  });
}
