import { readFileSync } from "node:fs";

export interface UnixUser {
  name: string;
  uid: number;
  gid: number;
}

/**
 * Finds a user by name (or by numeric uid) in /etc/passwd. The shim hands the ids to
 * setpriv, which also gives the task the user's supplementary groups.
 */
export function lookupUser(user: string, passwdPath = "/etc/passwd"): UnixUser | undefined {
  let text: string;
  try {
    text = readFileSync(passwdPath, "utf8");
  } catch {
    return undefined;
  }
  for (const line of text.split("\n")) {
    const [name, , uid, gid] = line.split(":");
    if (name === undefined || uid === undefined || gid === undefined) continue;
    if (name === user || (/^\d+$/.test(user) && uid === user)) {
      const u = { name, uid: Number(uid), gid: Number(gid) };
      if (Number.isInteger(u.uid) && Number.isInteger(u.gid)) return u;
    }
  }
  return undefined;
}
