import { SYSTEM_PATH } from "./binaries.js";

/**
 * The environment a task (and a command exec'd in it) runs with: exactly the client's,
 * plus a PATH when it has none, so a bare command name can be found.
 */
export function taskEnvironment(env: Record<string, string>): Record<string, string> {
  return env.PATH === undefined ? { ...env, PATH: SYSTEM_PATH } : { ...env };
}
