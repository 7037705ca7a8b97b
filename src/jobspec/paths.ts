import type { Job } from "../structs/index.js";
import type { Pos } from "./diagnostic.js";
import { isPlainObject } from "./coerce.js";
import { jobSchema, type ObjSchema } from "./schema.js";

type Segment = { name: string } | { index: number };

export function splitPath(path: string): Segment[] {
  const out: Segment[] = [];
  for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    if (m[2] !== undefined) out.push({ index: Number(m[2]) });
    else if (m[1] !== undefined) out.push({ name: m[1] });
  }
  return out;
}

const PORT_LISTS = new Set(["ReservedPorts", "DynamicPorts", "Ports"]);

/**
 * The HCL spelling of an API path, read against the job: `TaskGroups[0].Tasks[1].Resources.MemoryMB`
 * → `job.group[webs].task[api].resources.memory`.
 */
export function toHclPath(apiPath: string, job: Job | Record<string, unknown>): string {
  let schema: ObjSchema | undefined = jobSchema;
  let data: unknown = job;
  let out = "job";
  let itemSchema: ObjSchema | undefined;
  for (const seg of splitPath(apiPath)) {
    if ("index" in seg) {
      data = Array.isArray(data) ? (data as unknown[])[seg.index] : undefined;
      const labelField = itemSchema?.fields.find((f) => f.label === true);
      const label = labelField !== undefined && isPlainObject(data) ? data[labelField.api] : undefined;
      out += typeof label === "string" && label !== "" ? `[${label}]` : `[${seg.index}]`;
      schema = itemSchema;
      itemSchema = undefined;
      continue;
    }
    const field = schema?.fields.find((f) => f.api === seg.name || (PORT_LISTS.has(seg.name) && f.api === "Ports"));
    data = isPlainObject(data) ? data[seg.name] : undefined;
    // Fields written inside a block of their own (`placement { strategy = ... }`).
    const holder = field?.hcl === "" ? schema?.fields.find((f) => f.api === "" && f.kind.t === "object" && f.kind.schema.fields.some((x) => x.api === seg.name)) : undefined;
    if (holder !== undefined && holder.kind.t === "object") {
      const inner = holder.kind.schema.fields.find((x) => x.api === seg.name);
      out += `.${holder.hcl}.${inner?.hcl ?? seg.name}`;
      schema = undefined;
      continue;
    }
    if (field === undefined) {
      out += `.${seg.name}`;
      schema = undefined;
      continue;
    }
    if (field.label === true) continue;
    out += field.hcl === "" ? `.${seg.name}` : `.${field.hcl}`;
    schema = field.kind.t === "object" ? field.kind.schema : undefined;
    itemSchema = field.kind.t === "list" ? field.kind.schema : undefined;
  }
  return out;
}

/** The path where the user wrote what is now at `apiPath` (it may have moved in canonicalisation). */
export function writtenPath(apiPath: string, aliases: ReadonlyMap<string, string>): string {
  let path = apiPath;
  for (let hops = 0; hops < 8; hops++) {
    let prefix = path;
    let moved = false;
    while (prefix !== "") {
      const alias = aliases.get(prefix);
      if (alias !== undefined) {
        path = alias + path.slice(prefix.length);
        moved = true;
        break;
      }
      prefix = parent(prefix);
    }
    if (!moved) return path;
  }
  return path;
}

/** Where an API path was written: itself, where it was moved from, or its nearest written ancestor. */
export function locate(apiPath: string, positions: ReadonlyMap<string, Pos>, aliases: ReadonlyMap<string, string>): Pos | undefined {
  const direct = positions.get(apiPath);
  if (direct !== undefined) return direct;
  for (let p = writtenPath(apiPath, aliases); ; p = parent(p)) {
    const hit = positions.get(p);
    if (hit !== undefined || p === "") return hit;
  }
}

function parent(path: string): string {
  const cut = Math.max(path.lastIndexOf("."), path.lastIndexOf("["));
  return cut <= 0 ? "" : path.slice(0, cut);
}
