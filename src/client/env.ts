import { allocIndex, nodeVariable, type Allocation, type Node, type Task, type TaskGroup } from "../structs/index.js";

/** Where the task finds its directories: host paths, or the paths inside an isolated task. */
export interface TaskDirs {
  alloc: string;
  local: string;
  secrets: string;
}

/** A port of the allocation as the task sees it. */
export interface AllocPort {
  label: string;
  /** Host port. */
  value: number;
  /** Port inside the task: the mapped port for docker, the host port otherwise. */
  to: number;
  ip: string;
}

export function allocPorts(a: Allocation): AllocPort[] {
  const out: AllocPort[] = [];
  for (const n of a.Resources.Networks) {
    for (const p of [...n.ReservedPorts, ...n.DynamicPorts]) out.push({ label: p.Label, value: p.Value, to: p.To === 0 ? p.Value : p.To, ip: p.HostIP ?? n.IP });
  }
  return out;
}

/**
 * The environment of a task: its own `env` (interpolated) over the RUCHE_* variables and
 * their NOMAD_* twins, so that applications written for Nomad keep working unchanged.
 */
export function taskEnv(a: Allocation, tg: TaskGroup, task: Task, node: Node, dirs: TaskDirs): Record<string, string> {
  const job = a.Job;
  const base: Record<string, string> = {
    ALLOC_DIR: dirs.alloc,
    TASK_DIR: dirs.local,
    SECRETS_DIR: dirs.secrets,
    MEMORY_LIMIT: String(task.Resources.MemoryMB),
    CPU_LIMIT: String(task.Resources.CPU),
    ALLOC_ID: a.ID,
    SHORT_ALLOC_ID: a.ID.slice(0, 8),
    ALLOC_NAME: a.Name,
    ALLOC_INDEX: String(Math.max(0, allocIndex(a.Name))),
    TASK_NAME: task.Name,
    GROUP_NAME: tg.Name,
    JOB_NAME: job.Name,
    JOB_ID: job.ID,
    JOB_PARENT_ID: job.ParentID ?? "",
    NAMESPACE: a.Namespace,
    DC: node.Datacenter,
    REGION: job.Region,
  };
  const ports = allocPorts(a);
  // A task's own port that took the name `<task>_<label>` in the group (two tasks declared
  // `label` in their resources, the older syntax): the task sees it by its own label.
  const labels = new Set(ports.map((p) => p.label));
  const prefix = `${task.Name}_`;
  const own = ports.filter((p) => p.label.startsWith(prefix) && labels.has(p.label.slice(prefix.length)));
  const seen = [...ports, ...own.map((p) => ({ ...p, label: p.label.slice(prefix.length) }))];
  for (const p of seen) {
    // As Nomad's taskenv: these four names have what a variable name cannot hold made "_"
    // (`public-api` → NOMAD_PORT_public_api); the others keep the label as written.
    const clean = envSafe(p.label);
    base[`IP_${clean}`] = p.ip;
    base[`PORT_${clean}`] = String(p.to);
    base[`ADDR_${clean}`] = `${p.ip}:${p.value}`;
    base[`HOST_IP_${p.label}`] = p.ip;
    base[`HOST_PORT_${clean}`] = String(p.value);
    base[`HOST_ADDR_${p.label}`] = `${p.ip}:${p.value}`;
    base[`ALLOC_PORT_${p.label}`] = String(p.to);
  }
  const meta = { ...job.Meta, ...tg.Meta, ...task.Meta };
  for (const [k, v] of Object.entries(meta)) {
    base[`META_${k}`] = v;
    base[`META_${k.toUpperCase().replace(/[^A-Z0-9_]/g, "_")}`] = v;
  }
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) {
    env[`RUCHE_${k}`] = v;
    env[`NOMAD_${k}`] = v;
  }
  const vars = { env, node };
  for (const [k, v] of Object.entries(task.Env)) env[k] = interpolate(v, vars);
  return env;
}

/** Nomad's `helper.CleanEnvVar(s, '_')`: letters, digits (not first), "_" and "." kept, anything else "_". */
export function envSafe(s: string): string {
  return s.replace(/[^A-Za-z0-9_.]/g, "_");
}

/**
 * Replaces `${...}` references that only a node knows, in a string of the job: `NOMAD_*`
 * and `RUCHE_*` variables, `env.NAME`, `attr.*`, `node.unique.id`, `node.unique.name`,
 * `node.datacenter`, `node.class`, `node.region`, `meta.*`. Unknown references are left
 * as written, as Nomad does.
 */
export function interpolate(text: string, vars: { env: Readonly<Record<string, string>>; node: Node }): string {
  if (!text.includes("${")) return text;
  return text.replace(/\$\{([^}]+)\}/g, (whole, ref: string) => resolveRef(ref.trim(), vars) ?? whole);
}

function resolveRef(ref: string, { env, node }: { env: Readonly<Record<string, string>>; node: Node }): string | undefined {
  if (ref.startsWith("env.")) return env[ref.slice(4)];
  return nodeVariable(ref, node) ?? env[ref];
}

/** Interpolates every string inside a task's config (lists and maps included). */
export function interpolateConfig(value: unknown, vars: { env: Readonly<Record<string, string>>; node: Node }): unknown {
  if (typeof value === "string") return interpolate(value, vars);
  if (Array.isArray(value)) return value.map((v) => interpolateConfig(v, vars));
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolateConfig(v, vars);
    return out;
  }
  return value;
}
