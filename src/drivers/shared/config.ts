import { ErrorCode, RucheError } from "../../structs/index.js";

/** The task config of the raw_exec and exec drivers, as in Nomad. */
export interface CommandConfig {
  /** The program: a path, or a name looked up on the task's PATH. */
  command: string;
  args: string[];
}

const KEYS = ["command", "args"];

/** Problems with a task's config, each naming its key; empty when it can start. `extraKeys`: the driver's own options. */
export function validateCommandConfig(config: Record<string, unknown>, driver: string, extraKeys: readonly string[] = []): string[] {
  const problems: string[] = [];
  const { command, args } = config;
  if (command === undefined) problems.push("config.command is required");
  else if (typeof command !== "string") problems.push("config.command must be a string");
  else if (command.trim() === "") problems.push("config.command must not be empty");
  if (args !== undefined && !(Array.isArray(args) && args.every((a) => typeof a === "string"))) {
    problems.push("config.args must be a list of strings");
  }
  const known = [...KEYS, ...extraKeys];
  for (const key of Object.keys(config)) {
    if (!known.includes(key)) problems.push(`config.${key} is not an option of the ${driver} driver (it knows ${known.join(", ")})`);
  }
  return problems;
}

/** The config as types; throws what `validateCommandConfig` finds. */
export function parseCommandConfig(config: Record<string, unknown>, driver: string, extraKeys: readonly string[] = []): CommandConfig {
  const problems = validateCommandConfig(config, driver, extraKeys);
  if (problems.length > 0) throw new RucheError(ErrorCode.BadRequest, problems.join("; "), { path: "config" });
  return { command: config.command as string, args: (config.args ?? []) as string[] };
}
