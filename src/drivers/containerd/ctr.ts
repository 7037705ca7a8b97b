import { spawn } from "node:child_process";
import { existsSync } from "node:fs";

/** Where containerd answers, tried in order when neither the driver's options nor CONTAINERD_ADDRESS say: its own socket, then the one a Docker engine runs. */
export const CONTAINERD_SOCKETS: readonly string[] = ["/run/containerd/containerd.sock", "/run/docker/containerd/containerd.sock"];

export interface CtrResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CtrOptions {
  /** Bytes to its stdin. */
  stdin?: string;
  timeoutMs?: number;
}

/**
 * containerd's own client, `ctr` (Debian's package containerd), run with an argument vector
 * against one socket and namespace. Rejects only when ctr cannot be started; a failure of the
 * command is its exit code and stderr.
 */
export class Ctr {
  constructor(
    readonly address: string,
    readonly namespace: string,
  ) {}

  run(args: readonly string[], opts: CtrOptions = {}): Promise<CtrResult> {
    return new Promise((resolve, reject) => {
      const child = spawn("ctr", ["--address", this.address, "--namespace", this.namespace, ...args], {
        stdio: [opts.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
        env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" },
      });
      let stdout = "";
      let stderr = "";
      child.stdout?.setEncoding("utf8").on("data", (c: string) => (stdout += c));
      child.stderr?.setEncoding("utf8").on("data", (c: string) => (stderr += c));
      child.stdin?.on("error", () => undefined);
      child.stdin?.end(opts.stdin);
      const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs);
      child.once("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.once("close", (code, signal) => {
        clearTimeout(timer);
        resolve({ code: code ?? (signal === "SIGKILL" && opts.timeoutMs !== undefined ? -2 : -1), stdout, stderr });
      });
    });
  }

  /** Runs ctr and gives its stdout; a non-zero exit throws with what ctr said. */
  async ok(args: readonly string[], opts: CtrOptions = {}): Promise<string> {
    const r = await this.run(args, opts);
    if (r.code !== 0) throw new Error(`ctr ${args.slice(0, 2).join(" ")}: ${ctrError(r)}`);
    return r.stdout;
  }
}

/** What a failed ctr run said, without its log prefixes. */
export function ctrError(r: CtrResult): string {
  if (r.code === -2) return "timed out";
  const text = r.stderr.trim().replace(/^ctr: /m, "");
  return text === "" ? `exit code ${r.code}` : text;
}

/** The socket to use: the one given, CONTAINERD_ADDRESS, or the first of CONTAINERD_SOCKETS there is. */
export function containerdAddress(given?: string): string {
  if (given !== undefined && given !== "") return given;
  const env = process.env.CONTAINERD_ADDRESS;
  if (env !== undefined && env !== "") return env;
  return CONTAINERD_SOCKETS.find((s) => existsSync(s)) ?? (CONTAINERD_SOCKETS[0] as string);
}
