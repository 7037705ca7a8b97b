/**
 * The two Python Consul clients Debian ships, run as their users run them: python-consul
 * (python3-consul, installed) and python-consul2 (python3-consul2, which conflicts with it and
 * is unpacked beside it by scripts/test-deps.sh; put first on PYTHONPATH here). A script is
 * Python source run with `python3 -c`, its arguments after it.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { root } from "./harness.js";

export const PYTHON_CONSUL_LIBS = ["python3-consul", "python3-consul2"] as const;
export type PythonConsulLib = (typeof PYTHON_CONSUL_LIBS)[number];

/** Where scripts/test-deps.sh unpacks python3-consul2 (its `consul` module). */
const CONSUL2_SITE = join(root, "node_modules/.cache/ruche-test-deps/python3-consul2/usr/lib/python3/dist-packages");
/** Each library's version, which a script checks before it runs: the right `consul` is imported. */
const VERSIONS: Record<PythonConsulLib, string> = { "python3-consul": "0.7.1", "python3-consul2": "0.1.5" };

function env(lib: PythonConsulLib): NodeJS.ProcessEnv {
  if (lib === "python3-consul") {
    const { PYTHONPATH: _, ...rest } = process.env;
    return rest;
  }
  if (!existsSync(join(CONSUL2_SITE, "consul", "base.py"))) throw new Error(`python3-consul2 is not unpacked in ${CONSUL2_SITE}: scripts/test-deps.sh (component "tools") downloads and unpacks it`);
  return { ...process.env, PYTHONPATH: CONSUL2_SITE };
}

/** The script, after a check that `consul` is the library asked for. */
function source(lib: PythonConsulLib, script: string): string {
  return `import consul, sys\nif consul.__version__ != ${JSON.stringify(VERSIONS[lib])}:\n    sys.exit("expected ${lib} ${VERSIONS[lib]}, imported consul " + consul.__version__ + " from " + consul.__file__)\n${script}`;
}

function missing(lib: PythonConsulLib, err: unknown): Error {
  const raw = (err as { stderr?: unknown }).stderr;
  const stderr = typeof raw === "string" ? raw : "";
  if (/No module named 'consul'/.test(stderr)) return new Error(`${lib} is not installed: scripts/test-deps.sh (component "tools") provides it`, { cause: err });
  return new Error(`${lib} script failed: ${stderr || String(err)}`, { cause: err });
}

/** Runs a script to its end; its standard output. */
export async function runPython(lib: PythonConsulLib, script: string, args: string[], timeoutMs = 60_000): Promise<string> {
  try {
    return (await promisify(execFile)("/usr/bin/python3", ["-c", source(lib, script), ...args], { timeout: timeoutMs, env: env(lib) })).stdout;
  } catch (err) {
    throw missing(lib, err);
  }
}

/** Starts a script that runs on; its process (stop it by its pid) and its output so far. */
export function startPython(lib: PythonConsulLib, script: string, args: string[]): { child: ChildProcess; out: () => string; err: () => string } {
  const child = spawn("/usr/bin/python3", ["-c", source(lib, script), ...args], { env: env(lib), stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (err += c));
  return { child, out: () => out, err: () => err };
}
