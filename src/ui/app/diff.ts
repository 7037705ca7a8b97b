/**
 * The difference between two versions of a job, field by field: each leaf of the job
 * (objects and lists walked, lists by position, named lists — groups, tasks, services —
 * by name) that was added, removed or changed. Fields the server sets on every version
 * (indexes, times, the version itself) are left out.
 */
export interface FieldChange {
  path: string;
  kind: "added" | "removed" | "changed";
  before?: string;
  after?: string;
}

const IGNORED = new Set(["Version", "CreateIndex", "ModifyIndex", "JobModifyIndex", "SubmitTime", "Stable", "Status"]);

/** Leaves of a value, by path: `TaskGroups[webs].Tasks[frontend].Resources.CPU` → "300". */
export function flatten(value: unknown, path = "", out = new Map<string, string>()): Map<string, string> {
  if (Array.isArray(value)) {
    if (value.length === 0) out.set(path, "[]");
    value.forEach((v: unknown, i) => {
      const name = v !== null && typeof v === "object" && "Name" in v && typeof v.Name === "string" && v.Name !== "" ? v.Name : String(i);
      flatten(v, `${path}[${name}]`, out);
    });
  } else if (value !== null && typeof value === "object") {
    const entries = Object.entries(value);
    if (entries.length === 0 && path !== "") out.set(path, "{}");
    for (const [k, v] of entries) {
      if (path === "" && IGNORED.has(k)) continue;
      flatten(v, path === "" ? k : `${path}.${k}`, out);
    }
  } else {
    out.set(path, JSON.stringify(value));
  }
  return out;
}

export function diffVersions(before: unknown, after: unknown): FieldChange[] {
  const a = flatten(before);
  const b = flatten(after);
  const out: FieldChange[] = [];
  for (const [path, v] of a) {
    const w = b.get(path);
    if (w === undefined) out.push({ path, kind: "removed", before: v });
    else if (w !== v) out.push({ path, kind: "changed", before: v, after: w });
  }
  for (const [path, w] of b) if (!a.has(path)) out.push({ path, kind: "added", after: w });
  return out.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
}
