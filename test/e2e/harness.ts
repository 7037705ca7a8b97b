/**
 * What the end-to-end tests share: a real agent as its own process, the CLI run in-process
 * against it, and waiting for what a user would wait for.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { request, type Agent } from "node:http";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { runCli, type IO } from "../../src/cli/index.js";

export const root = fileURLToPath(new URL("../..", import.meta.url));

export interface AgentProcess {
  child: ChildProcess;
  address: string;
  /** The Consul-compatible API's address, when the agent serves one. */
  consulAddress: string;
  /** The DNS interface's address (host:port), when the agent serves one. */
  dnsAddress: string;
  /** The router's main entrypoint (host:port) and its dashboard's, when the agent runs the router. */
  routerAddress: string;
  routerDashboard: string;
  out(): string;
  err(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone, with whether it went on SIGTERM. */
  stop(graceMs?: number): Promise<boolean>;
  /** kill -9, as a crash. */
  crash(): Promise<void>;
}

/** Starts `ruche agent ARGS...` and resolves once it prints its API address. */
export function startAgentProcess(args: string[], env: Record<string, string> = {}): Promise<AgentProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "agent", ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  let out = "";
  let err = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => { resolve(); }));
  const gone = (): boolean => child.exitCode !== null || child.signalCode !== null;
  const proc = (address: string, consulAddress: string, dnsAddress: string, routerAddress: string, routerDashboard: string): AgentProcess => ({
    child,
    address,
    consulAddress,
    dnsAddress,
    routerAddress,
    routerDashboard,
    out: () => out,
    err: () => err,
    stop: async (graceMs = 15_000) => {
      if (gone()) return true;
      child.kill("SIGTERM");
      const graceful = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => { r(false); }, graceMs))]);
      if (!graceful) {
        child.kill("SIGKILL");
        await exited;
      }
      return graceful;
    },
    crash: async () => {
      if (gone()) return;
      child.kill("SIGKILL");
      await exited;
    },
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the agent did not print its address within 30s\nstdout:\n${out}\nstderr:\n${err}`));
    }, 30_000);
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
      // The addresses are printed before the data dir: once it is there, they are too.
      const m = /^ {4}API: +http:\/\/(\S+)$/m.exec(out);
      if (m?.[1] !== undefined && /^ {4}Data dir:/m.test(out)) {
        clearTimeout(timer);
        const line = (re: RegExp): string => re.exec(out)?.[1] ?? "";
        resolve(proc(m[1], line(/^ {4}Consul: +http:\/\/(\S+)/m), line(/^ {4}DNS: +(\S+)/m), line(/^ {4}Router: +http:\/\/([^\s,]+)/m), line(/^ {4}Router dashboard: +http:\/\/(\S+)/m)));
      }
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      err += chunk;
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the agent exited (${code ?? signal ?? "?"}) before printing its address\nstdout:\n${out}\nstderr:\n${err}`));
    });
  });
}

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** Runs one `ruche` command line in this process against the agent at `address`. */
export async function ruche(address: string, cwd: string, ...argv: string[]): Promise<CliResult> {
  let out = "";
  let err = "";
  const io: IO = { out: (t) => (out += t), err: (t) => (err += t), env: { RUCHE_ADDR: address }, cwd };
  const code = await runCli(argv, io);
  return { code, out, err };
}

/** Polls `check` until it returns a value that is not undefined, or fails after `ms` saying what it waited for. */
export async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms}ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const exec = promisify(execFile);

/** Runs the docker CLI; its stdout, trimmed. */
export async function docker(...args: string[]): Promise<string> {
  const { stdout } = await exec("docker", args);
  return stdout.trim();
}

/** Pids of the processes (any namespace) whose environment says they belong to the allocation. */
export async function processesOf(allocId: string): Promise<number[]> {
  const { readdir, readFile } = await import("node:fs/promises");
  const mark = `RUCHE_ALLOC_ID=${allocId}\0`;
  const out: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if ((await readFile(`/proc/${name}/environ`, "latin1")).includes(mark)) out.push(Number(name));
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return out;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A job of `/bin/sleep` tasks (raw_exec, small), of `type` ("service" with `count`, or
 * "system"), with `constraints` (HCL blocks) at the job's level.
 */
export function sleeperJob(name: string, type: string, count: number, constraints: string): string {
  return `job "${name}" {
  datacenters = ["dc1"]
  type        = "${type}"
  ${constraints}
  group "${name}" {
    ${type === "system" ? "" : `count = ${count}`}
    task "${name}" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["3600"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`;
}

/** A GET of / through the router at `address` with a Host header, as `curl -H 'Host: ...'` sends it; an error when no answer comes within 5 s. */
export function getThrough(address: string, host: string, agent?: Agent): Promise<{ status: number; body: string }> {
  const [h, p] = address.split(":") as [string, string];
  return new Promise((resolve, reject) => {
    const req = request({ host: h, port: Number(p), path: "/", headers: { host }, ...(agent === undefined ? {} : { agent }) }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (c: string) => (body += c));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, body: body.trim() });
      });
    });
    req.setTimeout(5000, () => req.destroy(new Error("no answer within 5s")));
    req.on("error", reject);
    req.end();
  });
}
