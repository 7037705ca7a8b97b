import type { ChildProcess } from "node:child_process";

/** SIGTERM (a server writes its CPU profile then), SIGKILL after `killAfterMs`; resolves once the process has exited. */
export async function stopChild(child: ChildProcess, killAfterMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
  await gone;
  clearTimeout(t);
}
