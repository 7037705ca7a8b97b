import { ErrorCode, RucheError } from "../../structs/index.js";
import type { CommandConfig } from "../shared/index.js";

/** The java driver's own task config keys, as in Nomad (the isolation's, `cap_add` and the rest, are exec's). */
export const JAVA_KEYS = ["jar_path", "class", "class_path", "jvm_options", "args"] as const;


/**
 * Problems with a java task's config, each naming its key, in Nomad's words where Nomad has
 * some ("jar_path or class must be specified"). `isolationKeys`: the keys the isolation
 * reads (cap_add, cap_drop, pid_mode, ipc_mode, work_dir, pids_limit), known here and checked there.
 */
export function validateJavaConfig(config: Record<string, unknown>, isolationKeys: readonly string[]): string[] {
  const problems: string[] = [];
  for (const key of ["jar_path", "class", "class_path"] as const) {
    const v = config[key];
    if (v !== undefined && typeof v !== "string") problems.push(`config.${key} must be a string`);
  }
  for (const key of ["jvm_options", "args"] as const) {
    const v = config[key];
    if (v !== undefined && !(Array.isArray(v) && v.every((a) => typeof a === "string"))) problems.push(`config.${key} must be a list of strings`);
  }
  if (!present(config.jar_path) && !present(config.class)) problems.push("config: jar_path or class must be specified");
  const known = [...JAVA_KEYS, ...isolationKeys];
  for (const key of Object.keys(config)) {
    if (!known.includes(key)) problems.push(`config.${key} is not an option of the java driver (it knows ${known.join(", ")})`);
  }
  return problems;
}

/**
 * The JVM's arguments, as Nomad's driver builds them: `[jvm_options...] [-cp class_path]
 * [-jar jar_path] [class] [args...]`. Nothing is added: no heap size (a JVM sizes its heap
 * from its cgroup's memory limit by itself), no options of Ruche's. Expects a valid config.
 */
export function javaArgs(config: Record<string, unknown>): string[] {
  const list = (key: string): string[] => (Array.isArray(config[key]) ? (config[key] as string[]) : []);
  const text = (key: string): string => (typeof config[key] === "string" ? config[key] : "");
  return [
    ...list("jvm_options"),
    ...(text("class_path") === "" ? [] : ["-cp", text("class_path")]),
    ...(text("jar_path") === "" ? [] : ["-jar", text("jar_path")]),
    ...(text("class") === "" ? [] : [text("class")]),
    ...list("args"),
  ];
}

/** The command of a java task: `java` (the node's, a host path the task sees) with `javaArgs`; throws what `validateJavaConfig` finds. */
export function javaCommand(config: Record<string, unknown>, isolationKeys: readonly string[], java: string): CommandConfig {
  const problems = validateJavaConfig(config, isolationKeys);
  if (problems.length > 0) throw new RucheError(ErrorCode.BadRequest, problems.join("; "), { path: "config" });
  return { command: java, args: javaArgs(config) };
}

function present(v: unknown): boolean {
  return typeof v === "string" && v !== "";
}
