/**
 * Nomad's variables: a path in a namespace holding a map of strings (`Items`), written whole,
 * with check-and-set on its ModifyIndex. Shapes, rules and limits as Nomad's
 * `nomad/structs/variables.go`; kept in the state (`variables`, key "<namespace>/<path>").
 */

/** A variable's metadata: what `GET /v1/vars` lists (Nomad's `VariableMetadata`). */
export interface VariableMetadata {
  Namespace: string;
  Path: string;
  /** Nomad's variable locks: Ruche has none, so always null (a write asking for one is refused). */
  Lock: null;
  CreateIndex: number;
  /** Unix nanoseconds. */
  CreateTime: number;
  ModifyIndex: number;
  /** Unix nanoseconds. */
  ModifyTime: number;
}

/** A variable with its items, as `GET /v1/var/:path` answers (Nomad's `VariableDecrypted`). */
export interface Variable extends VariableMetadata {
  Items: Record<string, string>;
}

/**
 * A variable as the state keeps it: the metadata, and its items either sealed with the
 * cluster key (`Sealed`, `ruche-sealed-1:...`, on a server that has one) or as they are
 * (`Items`, a server without a cluster key: `-dev`).
 */
export interface StoredVariable extends VariableMetadata {
  Items?: Record<string, string>;
  Sealed?: string;
}

/** Nomad's `maxVariableSize`: the items' keys and values together, in bytes. */
export const MAX_VARIABLE_BYTES = 65536;

/** Nomad's `validVariablePath`: RFC 3986's unreserved characters but ".", and "/", 1 to 128. */
const VALID_PATH = /^[a-zA-Z0-9\-_~/]{1,128}$/;

/** The state's key of a variable: "<namespace>/<path>" (a namespace has no "/"). */
export function variableRowKey(namespace: string, path: string): string {
  return `${namespace}/${path}`;
}

/** The metadata of a variable, without its items. */
export function variableMetadata(v: VariableMetadata): VariableMetadata {
  return { Namespace: v.Namespace, Path: v.Path, Lock: null, CreateIndex: v.CreateIndex, CreateTime: v.CreateTime, ModifyIndex: v.ModifyIndex, ModifyTime: v.ModifyTime };
}

/** What is wrong with a variable's path, in Nomad's words (`validatePath`), or null. */
export function variablePathProblem(path: string): string | null {
  if (path.length === 0) return "variable requires path";
  if (!VALID_PATH.test(path)) return `invalid path ${JSON.stringify(path)}: a path is 1 to 128 of letters, digits, "-", "_", "~" and "/"`;
  const parts = path.split("/");
  if (parts[0] !== "nomad") return null;
  if (parts.length === 1) return '"nomad" is a reserved top-level directory path, but you may write variables to "nomad/jobs", "nomad/job-templates", or below';
  if (parts[1] === "jobs") return null;
  if (parts[1] === "job-templates" && parts.length === 3) return null;
  if (parts[1] === "job-templates") return '"nomad/job-templates" is a reserved directory path, but you may write variables at the level below it, for example, "nomad/job-templates/template-name"';
  return 'only paths at "nomad/jobs" or "nomad/job-templates" and below are valid paths under the top-level "nomad" directory';
}

/** What is wrong with a variable's items (Nomad's `VariableDecrypted.Validate`), or null. */
export function variableItemsProblem(items: Readonly<Record<string, string>>): string | null {
  const keys = Object.keys(items);
  if (keys.length === 0) return "empty variables are invalid";
  let size = 0;
  for (const k of keys) size += Buffer.byteLength(k) + Buffer.byteLength(items[k] ?? "");
  if (size > MAX_VARIABLE_BYTES) return "variables are limited to 64KiB in total size";
  return null;
}

/** A variable capability of Nomad's ACL policies (`path "..." { capabilities = [...] }`). */
export const VariableCap = { Read: "read", Write: "write", List: "list", Destroy: "destroy", Deny: "deny" } as const;
export type VariableCap = (typeof VariableCap)[keyof typeof VariableCap];
export const VARIABLE_CAPABILITIES: readonly string[] = Object.values(VariableCap);

/** Nomad's `expandVariablesCapabilities`: deny alone when named; read brings list. */
export function expandVariableCapabilities(caps: readonly string[]): string[] {
  if (caps.includes(VariableCap.Deny)) return [VariableCap.Deny];
  return caps.includes(VariableCap.Read) && !caps.includes(VariableCap.List) ? [...caps, VariableCap.List] : [...caps];
}

/**
 * The paths a workload of a task may read without a policy (Nomad's implicit workload access:
 * `nomad/jobs`, its job's, its group's and its task's, exactly those).
 */
export function workloadVariablePaths(job: string, group: string, task: string): string[] {
  return ["nomad/jobs", `nomad/jobs/${job}`, `nomad/jobs/${job}/${group}`, `nomad/jobs/${job}/${group}/${task}`];
}
