/**
 * What the end-to-end tests share: a real agent as its own process, the CLI run in-process
 * against it, and waiting for what a user would wait for.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { request, type Agent } from "node:http";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { fetchOver, tlsDispatcher } from "../../src/apiclient/index.js";
import { runCli, type IO } from "../../src/cli/index.js";
import { testPorts } from "../../src/state/etcd-testing.js";
import type { DialTls } from "../../src/structs/index.js";

export const root = fileURLToPath(new URL("../..", import.meta.url));

/** The newest modification time of the files under `dir` (0: none). */
export function newest(dir: string, keep: (file: string) => boolean = () => true): number {
  return Math.max(0, ...readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? newest(join(dir, e.name), keep) : keep(e.name) ? statSync(join(dir, e.name)).mtimeMs : 0)));
}

/** When the file was made (0: it is not there). */
export function built(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

let program: string | undefined;

/**
 * The \`ruche\` program the tests run as processes of its own: the built \`dist/cli/main.js\`,
 * as npm installs it (and starting in half the time of the sources run through tsx). A
 * source newer than it is refused, never run stale: \`npm run build\` first (\`npm test\` does).
 */
export function rucheProgram(): string {
  if (program !== undefined) return program;
  const main = join(root, "dist/cli/main.js");
  const made = built(main);
  if (made === 0) throw new Error(`${main} is missing: run \`npm run build\` before the end-to-end tests (npm test does)`);
  if (newest(join(root, "src"), (f) => f.endsWith(".ts") && !f.endsWith(".test.ts")) > made) {
    throw new Error(`a source under src/ is newer than ${main}: run \`npm run build\` before the end-to-end tests (npm test does), so that they do not run an old build`);
  }
  program = main;
  return main;
}

/**
 * An agent outside -dev checks ACL tokens and speaks TLS from the cluster's own PKI unless its
 * config says otherwise. Tests about something else (scheduling, faults, the catalog) run their
 * agents with both off, on purpose, as an operator would with `acl { enabled = false }` and
 * `tls { enabled = false }`; the suites about security (join, tls, penetration, the README's
 * production section) run them as they come.
 */
export const NO_ACL_NO_TLS = ["-acl-enabled=false", "-tls-enabled=false"] as const;

export interface AgentProcess {
  child: ChildProcess;
  address: string;
  /** The Consul-compatible API's address, when the agent serves one. */
  consulAddress: string;
  /** The DNS interface's address (host:port), when the agent serves one. */
  dnsAddress: string;
  /** host:port of the etcd listener (`-etcd-port`), "" when none. */
  etcdAddress: string;
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

/**
 * What an agent of a test is given so that agents of test files running side by side do not
 * meet: a -dev agent's etcd listener (2379) off unless the test names its port, and, unless
 * the test sets them (flags or a config file), dynamic ports of this test process's own
 * (\`testPorts\`) instead of the default 20000-32000 every agent would hand out.
 */
export function sideBySide(args: readonly string[]): string[] {
  const out = args.includes("-etcd-port") ? [] : ["-etcd-port", "-1"];
  const config = args.includes("-config") ? args[args.indexOf("-config") + 1] : undefined;
  const configSets = config !== undefined && statSync(config, { throwIfNoEntry: false })?.isFile() === true && readFileSync(config, "utf8").includes("dynamic_port");
  if (!args.includes("-min-dynamic-port") && !configSets) {
    const { min, max } = testPorts().dynamic;
    out.push("-min-dynamic-port", String(min), "-max-dynamic-port", String(max));
  }
  return out;
}

/**
 * Starts `ruche agent ARGS...` and resolves once its APIs say it is up (see `agentUp`). Its
 * addresses, on port 0 known only to it, are read from what it prints.
 */
export async function startAgentProcess(args: string[], env: Record<string, string> = {}, tls?: DialTls): Promise<AgentProcess> {
  const child = spawn(process.execPath, [rucheProgram(), "agent", ...args, ...sideBySide(args)], { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (err += chunk));
  const exited = new Promise<void>((resolve) => child.once("exit", () => { resolve(); }));
  const gone = (): boolean => child.exitCode !== null || child.signalCode !== null;
  const printed = (re: RegExp): string => re.exec(out)?.[1] ?? "";
  const proc: AgentProcess = {
    child,
    address: "",
    get consulAddress() {
      return printed(/^ {4}Consul: +https?:\/\/(\S+)/m);
    },
    get dnsAddress() {
      return printed(/^ {4}DNS: +(\S+)/m);
    },
    get etcdAddress() {
      return printed(/^ {4}etcd: +https?:\/\/(\S+)/m);
    },
    get routerAddress() {
      return printed(/^ {4}Router: +http:\/\/([^\s,]+)/m);
    },
    get routerDashboard() {
      return printed(/^ {4}Router dashboard: +http:\/\/(\S+)/m);
    },
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
  };
  // An agent is up in a few seconds; on a machine busy with a whole test run (its etcd
  // members, containers, other agents) it may take several times that.
  const deadline = Date.now() + 60_000;
  let last: unknown;
  for (;;) {
    if (gone()) throw new Error(`the agent exited (${child.exitCode ?? child.signalCode ?? "?"}) before it was up\nstdout:\n${out}\nstderr:\n${err}`);
    proc.address = printed(/^ {4}API: +https?:\/\/(\S+)$/m);
    try {
      if (proc.address !== "" && (await agentUp(args, proc, tls))) return proc;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`the agent was not up within 60s${last instanceof Error ? ` (${last.message})` : ""}\nstdout:\n${out}\nstderr:\n${err}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The value of a flag in an agent's command line (`-servers ADDR`), if given. */
function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
}

/**
 * Whether the agent started with `args` is up, asked of the APIs as a user would: with the
 * server role (-dev, -server), its API names a leader; with the client role (-dev, -client),
 * its servers list as ready the node it registered; with the router (-dev, -router,
 * -router-port other than -1), the router's dashboard answers /ping (or, without one, its
 * entrypoint answers).
 */
async function agentUp(args: string[], agent: AgentProcess, tls: DialTls | undefined): Promise<boolean> {
  // An agent with a tls block: its APIs are asked over HTTPS, trusting `tls`.
  const api = (hostPort: string, path: string): Promise<Response> => (tls === undefined ? fetch(`http://${hostPort}${path}`) : fetchOverTls(tls, `https://${hostPort}${path}`));
  const server = args.includes("-dev") || args.includes("-server");
  if (server) {
    const leader = await api(agent.address, "/v1/status/leader");
    const body = await leader.text();
    if (!leader.ok || body === "" || body === '""') return false;
  }
  if (args.includes("-dev") || args.includes("-client")) {
    // Its own node, registered by this process: the node's HTTP address is this agent's API.
    const servers = server ? agent.address : (flag(args, "-servers")?.split(",")[0] ?? "");
    const nodes = (await (await api(servers, "/v1/nodes")).json()) as { HTTPAddr: string; Status: string }[];
    if (!nodes.some((n) => n.HTTPAddr === agent.address && n.Status === "ready")) return false;
  }
  const routerPort = flag(args, "-router-port");
  if ((args.includes("-dev") || args.includes("-router") || routerPort !== undefined) && routerPort !== "-1") {
    if (agent.routerAddress === "") return false;
    if (agent.routerDashboard !== "") {
      const ping = await fetch(`http://${agent.routerDashboard}/ping`);
      return (await ping.text()) === "OK" && ping.ok;
    }
    await (await fetch(`http://${agent.routerAddress}/`)).arrayBuffer();
  }
  return true;
}

/** One request over TLS, on a connection of its own. */
async function fetchOverTls(tls: DialTls, url: string): Promise<Response> {
  const d = tlsDispatcher(tls);
  try {
    const res = await fetchOver(d)(new URL(url), {});
    const body = await res.arrayBuffer();
    return new Response(body, { status: res.status, headers: res.headers });
  } finally {
    await d.close();
  }
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

/**
 * Starts one `ruche` command line in this process, as `ruche` does, without waiting for it:
 * what it has printed so far can be read while it runs (a watch, a monitor).
 */
export function rucheRunning(address: string, cwd: string, ...argv: string[]): { out(): string; done: Promise<CliResult> } {
  let out = "";
  let err = "";
  const io: IO = { out: (t) => (out += t), err: (t) => (err += t), env: { RUCHE_ADDR: address }, cwd };
  return { out: () => out, done: runCli(argv, io).then((code) => ({ code, out, err })) };
}

/** How many blocking queries wait on `table` in the agent at `address` (its /v1/metrics). */
export async function blockingQueries(address: string, table: string): Promise<number> {
  const text = await (await fetch(`http://${address}/v1/metrics`)).text();
  const m = new RegExp(`^ruche_blocking_queries\\{table="${table}"\\} (\\d+)$`, "m").exec(text);
  if (m?.[1] === undefined) throw new Error(`/v1/metrics of ${address} has no ruche_blocking_queries for ${table}`);
  return Number(m[1]);
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

/** A `task "box"` block (HCL, at a group's indentation): the test image's busybox, sleeping, small (docker). */
export const DOCKER_SLEEPER_TASK = `    task "box" {
      driver = "docker"
      config {
        image   = "ruche-test/busybox:latest"
        command = "sleep"
        args    = ["100000"]
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }`;

/** A GET of / through the router at `address` with a Host header, as `curl -H 'Host: ...'` sends it; an error when no whole answer comes within 5 s. */
export function getThrough(address: string, host: string, agent?: Agent): Promise<{ status: number; body: string }> {
  const [h, p] = address.split(":") as [string, string];
  return new Promise((resolve, reject) => {
    const req = request({ host: h, port: Number(p), path: "/", headers: { host }, ...(agent === undefined ? {} : { agent }) }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (c: string) => (body += c));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, body: body.trim() });
      });
      // A response cut after its head began: an error too, not a wait for ever.
      res.on("error", reject);
    });
    req.setTimeout(5000, () => req.destroy(new Error("no answer within 5s")));
    req.on("error", reject);
    req.end();
  });
}

/**
 * The target of an instance's SRV record as Consul's DNS names it: its own address (IPv4) as
 * `<hex>.addr.DC.consul.` when it has one, else its node, `NODE.node.DC.consul.`.
 */
export function srvTarget(node: string, serviceAddress: string, dc: string): string {
  if (serviceAddress === "") return `${node}.node.${dc}.consul.`;
  const octets = serviceAddress.split(".").map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) throw new Error(`srvTarget: "${serviceAddress}" is not an IPv4 address`);
  return `${Buffer.from(octets).toString("hex")}.addr.${dc}.consul.`;
}
