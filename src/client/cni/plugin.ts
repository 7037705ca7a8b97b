import { spawn } from "node:child_process";
import { access, constants, readdir, stat } from "node:fs/promises";
import { join } from "node:path";

/** CNI_COMMAND: what a plugin is asked to do (the CNI spec's operations). */
export const CniCommand = { Add: "ADD", Del: "DEL", Check: "CHECK", Version: "VERSION" } as const;
export type CniCommand = (typeof CniCommand)[keyof typeof CniCommand];

/** The environment a plugin is run with, the CNI spec's parameters. */
export interface CniInvocation {
  command: CniCommand;
  containerId: string;
  /** The network namespace's path (`/proc/<pid>/ns/net`, `/var/run/netns/<name>`). */
  netns: string;
  ifName: string;
  /** CNI_ARGS, in order: `K=V;K=V`. */
  args: readonly (readonly [string, string])[];
  /** Directories searched for plugins, CNI_PATH. */
  path: readonly string[];
}

/** The environment of one plugin run (pure): the agent's own, with the CNI parameters over it, as libcni's `Args.AsEnv`. */
export function pluginEnv(inv: CniInvocation, base: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined) env[k] = v;
  env.CNI_COMMAND = inv.command;
  env.CNI_CONTAINERID = inv.containerId;
  env.CNI_NETNS = inv.netns;
  env.CNI_IFNAME = inv.ifName;
  env.CNI_ARGS = inv.args.map(([k, v]) => `${k}=${v}`).join(";");
  env.CNI_PATH = inv.path.join(":");
  return env;
}

/** A plugin that failed: its error as the CNI spec's error result (`code`, `msg`, `details`) says it. */
export class CniPluginError extends Error {
  constructor(
    readonly plugin: string,
    readonly code: number,
    readonly msg: string,
    readonly details: string,
  ) {
    super(`plugin type="${plugin}" failed (${code}): ${msg}${details === "" ? "" : `: ${details}`}`);
    this.name = "CniPluginError";
  }
}

/** The executable of a plugin type: the first of the path's directories that holds it, executable. */
export async function findPlugin(type: string, path: readonly string[]): Promise<string> {
  if (type.includes("/")) throw new Error(`CNI plugin type "${type}" may not hold "/"`);
  for (const dir of path) {
    const file = join(dir, type);
    try {
      await access(file, constants.X_OK);
      if ((await stat(file)).isFile()) return file;
    } catch {
      // Not in this directory.
    }
  }
  throw new Error(`failed to find plugin "${type}" in path [${path.join(" ")}] (the agent's cni_path)`);
}

/** How long one plugin may run before it is killed and its operation fails. */
const PLUGIN_TIMEOUT_MS = 60_000;

/**
 * Runs one plugin (argument vector, no shell): its config on stdin, the CNI parameters in its
 * environment. Resolves with what it printed, parsed (null for an empty answer, as DEL's);
 * rejects with a `CniPluginError` when it exits non-zero.
 */
export async function execPlugin(type: string, inv: CniInvocation, stdin: unknown): Promise<unknown> {
  const exe = await findPlugin(type, inv.path);
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(exe, [], { env: pluginEnv(inv), stdio: ["pipe", "pipe", "pipe"], timeout: PLUGIN_TIMEOUT_MS });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on("close", (c, sig) => {
      resolve({ code: c ?? (sig === null ? 1 : 128), stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") });
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(JSON.stringify(stdin));
  });
  const text = stdout.trim();
  if (code !== 0) {
    try {
      const e = JSON.parse(text) as { code?: unknown; msg?: unknown; details?: unknown };
      throw new CniPluginError(type, typeof e.code === "number" ? e.code : code, typeof e.msg === "string" ? e.msg : text, typeof e.details === "string" ? e.details : "");
    } catch (e) {
      if (e instanceof CniPluginError) throw e;
      throw new CniPluginError(type, code, text === "" ? stderr.trim() || `exit status ${code}` : text, "");
    }
  }
  if (text === "") return null;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new Error(`plugin type="${type}" printed what is not JSON: ${text.slice(0, 200)}`, { cause: err });
  }
}

/**
 * The plugins of the cni path with their versions, as Nomad's `plugins.cni.version.<name>`
 * attributes: each executable is run without arguments and the first word of its output
 * that is a version (`v1.1.1`, `1.4.0`) is its version; one that says none ("version
 * unknown") gets no attribute.
 */
export async function pluginVersions(path: readonly string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const dir of path) {
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch {
      continue;
    }
    for (const name of names) {
      const file = join(dir, name);
      try {
        const s = await stat(file);
        if (!s.isFile() || (s.mode & 0o111) === 0) continue;
      } catch {
        continue;
      }
      const v = await runForVersion(file);
      if (v !== undefined && out[name] === undefined) out[name] = v;
    }
  }
  return out;
}

const SEMVER = /^v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?$/;

/** The first version-like word of what a plugin prints run bare (Nomad's `detectOnePlugin`), within 3 s. */
function runForVersion(file: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn(file, [], { stdio: ["ignore", "pipe", "pipe"], timeout: 3000, env: {} });
    const out: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => out.push(b));
    child.on("error", () => {
      resolve(undefined);
    });
    child.on("close", () => {
      resolve(Buffer.concat(out).toString("utf8").split(/\s+/).find((w) => SEMVER.test(w)));
    });
  });
}
