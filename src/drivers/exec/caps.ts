/**
 * The Linux capabilities an exec task may hold: by default the set Nomad's exec driver
 * allows (Docker's defaults without net_raw), changed per task by `cap_add` and `cap_drop`
 * within that set. Names are lower case without `cap_`, as in Nomad; `all` stands for the
 * whole allowed set.
 */
export const DEFAULT_CAPS = [
  "audit_write",
  "chown",
  "dac_override",
  "fowner",
  "fsetid",
  "kill",
  "mknod",
  "net_bind_service",
  "setfcap",
  "setgid",
  "setpcap",
  "setuid",
  "sys_chroot",
] as const;

const ALLOWED: ReadonlySet<string> = new Set(DEFAULT_CAPS);

const norm = (c: string): string => c.trim().toLowerCase().replace(/^cap_/, "");

/** Problems with a task's `cap_add` / `cap_drop`, each naming its key; empty when fine. */
export function validateCaps(config: Record<string, unknown>): string[] {
  const problems: string[] = [];
  for (const key of ["cap_add", "cap_drop"] as const) {
    const v = config[key];
    if (v === undefined) continue;
    if (!Array.isArray(v) || !v.every((c) => typeof c === "string")) {
      problems.push(`config.${key} must be a list of capability names such as "net_bind_service"`);
      continue;
    }
    for (const c of v.map(norm)) {
      if (c !== "all" && !ALLOWED.has(c)) problems.push(`config.${key}: "${c}" is not a capability the exec driver allows (it allows ${DEFAULT_CAPS.join(", ")})`);
    }
  }
  return problems;
}

/** The capabilities a task holds: the defaults, minus `cap_drop`, plus `cap_add`. Expects a validated config. */
export function taskCaps(config: Record<string, unknown>): string[] {
  const list = (key: string): string[] => (Array.isArray(config[key]) ? (config[key] as string[]).map(norm) : []);
  const drop = list("cap_drop");
  const add = list("cap_add");
  const held = new Set<string>(drop.includes("all") ? [] : DEFAULT_CAPS.filter((c) => !drop.includes(c)));
  for (const c of add.includes("all") ? DEFAULT_CAPS : add) held.add(c);
  return DEFAULT_CAPS.filter((c) => held.has(c));
}

/** The bounding set as setpriv takes it: everything dropped, then each held capability. */
export function boundingSet(caps: readonly string[]): string {
  return ["-all", ...caps.map((c) => `+${c}`)].join(",");
}
