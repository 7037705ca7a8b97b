import { ErrorCode, RucheError } from "../../structs/index.js";
import { findBinary } from "./binaries.js";
import { lookupUser } from "./users.js";

/**
 * The argv prefix that runs a command as `user` (empty for the agent's own user), and with
 * only the capabilities of `bounding` (setpriv's --bounding-set syntax) when given: setpriv
 * with the user's uid, gid and supplementary groups, as the shim does for the task.
 */
export function asUser(user: string, bounding?: string): string[] {
  if (user === "" && bounding === undefined) return [];
  const u = user === "" ? undefined : lookupUser(user);
  if (user !== "" && u === undefined) throw new RucheError(ErrorCode.BadRequest, `user "${user}" is not in /etc/passwd`, { path: "user" });
  const setpriv = findBinary("setpriv");
  if (setpriv === undefined) throw new RucheError(ErrorCode.Internal, "setpriv (util-linux) is not installed; it runs a command as the task's user");
  return [
    setpriv,
    ...(u === undefined ? [] : [`--reuid=${u.uid}`, `--regid=${u.gid}`, "--init-groups"]),
    ...(bounding === undefined ? [] : [`--bounding-set=${bounding}`]),
    "--",
  ];
}
