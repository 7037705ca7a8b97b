import type { Diagnostic } from "./diagnostic.js";
import { coerce, describe, isPlainObject } from "./coerce.js";
import { JOB_TASKS, jobSchema, type Field, type ObjSchema } from "./schema.js";
import { didYouMean } from "./suggest.js";

/**
 * The JSON form of a job, as our API takes it (`{"Job": {...}}` or the bare job), into
 * the API's shape with each value's type checked. A string field given "" takes its
 * default, as Nomad's `Canonicalize` gives its zero values theirs (Nomad's Go client sends
 * `"Mode": ""` for a network it left alone). In a job file, keys our model does not know
 * are an error when they carry a value; empty ones (null, "", 0, false, [], {}) are let
 * through, so the JSON another orchestrator prints for a job reads here when it uses
 * nothing more. In an API request's body (`api`), they are ignored, as Nomad's JSON decoder
 * ignores them (its Go client sends fields of newer versions); a Nomad feature Ruche refuses
 * is refused there too, never ignored.
 */
export function decodeJsonJob(value: unknown, file: string, api = false): { ok: true; raw: Record<string, unknown> } | { ok: false; diagnostics: Diagnostic[] } {
  const diags: Diagnostic[] = [];
  let job = value;
  let base = "Job";
  if (isPlainObject(value) && Object.hasOwn(value, "Job")) {
    const extra = Object.keys(value).filter((k) => k !== "Job" && !["EnforceIndex", "JobModifyIndex", "PolicyOverride", "PreserveCounts", "Submission"].includes(k));
    if (!api) for (const k of extra) diags.push({ file, path: k, message: `unknown key "${k}" beside "Job"` });
    job = value.Job;
  } else {
    base = "";
  }
  if (isPlainObject(job) && base === "" && !Object.hasOwn(job, "ID") && Object.keys(job).some((k) => /^[a-z]/.test(k))) {
    diags.push({ file, path: "", message: 'the JSON form of a job is {"Job": {"ID": ..., "TaskGroups": [...]}} with the API\'s PascalCase fields; HCL written as JSON is not read, use HCL for that' });
    return { ok: false, diagnostics: diags };
  }
  if (!isPlainObject(job)) {
    diags.push({ file, path: base, message: `a job must be a JSON object, got ${describe(job)}` });
    return { ok: false, diagnostics: diags };
  }
  const raw = decodeObject(job, jobSchema, base === "" ? "Job" : base, file, diags, api);
  return diags.length > 0 ? { ok: false, diagnostics: diags } : { ok: true, raw };
}

function decodeObject(obj: Record<string, unknown>, schema: ObjSchema, path: string, file: string, diags: Diagnostic[], api: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  // JobTasks is the HCL decoder's own (tasks written directly in a job): no JSON job carries it.
  const known = schema.fields.filter((f) => f.api !== "" && f.api !== JOB_TASKS);
  for (const [key, v] of Object.entries(obj)) {
    const here = `${path}.${key}`;
    const field = known.find((f) => f.api === (ALIASES[schema.name]?.[key] ?? key)) ?? (api ? refusedByName(schema, key) : undefined);
    if (field === undefined) {
      if (!isEmpty(v) && !api) diags.push({ file, path: here, message: `unknown field "${key}" in ${schema.name}${didYouMean(key, known.map((f) => f.api))}` });
      continue;
    }
    if (v === null) continue;
    // Nomad's zero value: the field's default.
    if (v === "" && field.kind.t === "string") continue;
    switch (field.kind.t) {
      case "unsupported":
        if (!isEmpty(v)) diags.push({ file, path: here, message: field.why === undefined ? `"${key}" is a Nomad feature Ruche does not support yet` : `"${key}": ${field.why}` });
        break;
      case "object":
        if (!isPlainObject(v)) diags.push({ file, path: here, message: `must be an object, got ${describe(v)}` });
        else out[field.api] = decodeObject(v, field.kind.schema, here, file, diags, api);
        break;
      case "list": {
        const schemaOf = field.kind.schema;
        const items = field.keyed === true && isPlainObject(v) ? byLabel(v, schemaOf) : v;
        if (!Array.isArray(items)) {
          diags.push({ file, path: here, message: `must be a ${field.keyed === true ? "map by name" : "list"}, got ${describe(v)}` });
          break;
        }
        out[field.api] = (items as unknown[]).map((item, i) => {
          if (!isPlainObject(item)) {
            diags.push({ file, path: `${here}[${i}]`, message: `must be an object, got ${describe(item)}` });
            return {};
          }
          return decodeObject(item, schemaOf, `${here}[${i}]`, file, diags, api);
        });
        break;
      }
      default: {
        const c = coerce(v, field.kind, "json");
        if (!c.ok) diags.push({ file, path: here, message: c.message });
        else out[field.api] = c.value;
      }
    }
  }
  return out;
}

/** A map by label (`{"data": {"Type": "host"}}`) as the list of its items, each with its label (`Name`) from its key when it has none. */
function byLabel(v: Record<string, unknown>, schema: ObjSchema): unknown[] {
  const label = schema.fields.find((f) => f.label === true)?.api ?? "Name";
  return Object.entries(v).map(([key, item]) => (isPlainObject(item) && (item[label] === undefined || item[label] === null || item[label] === "") ? { ...item, [label]: key } : item));
}

/** The field Ruche refuses (written only in HCL: `vault`, `csi_plugin`) that an API key names (`Vault`): its name without the underscores, in any case. */
function refusedByName(schema: ObjSchema, key: string): Field | undefined {
  const plain = (n: string): string => n.replaceAll("_", "").toLowerCase();
  // A list's API name is its block's in the plural (`Templates`, `template`).
  const named = [plain(key), plain(key).replace(/s$/, "")];
  return schema.fields.find((f) => f.kind.t === "unsupported" && f.hcl !== "" && named.includes(plain(f.hcl)));
}

/** Nomad's API names for a field our JSON form names otherwise: the job's `Reschedule` (`api.Job.Reschedule`) is its `ReschedulePolicy`. */
const ALIASES: Readonly<Record<string, Readonly<Record<string, string>>>> = { job: { Reschedule: "ReschedulePolicy" } };

function isEmpty(v: unknown): boolean {
  if (v === null || v === undefined || v === "" || v === 0 || v === false) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (isPlainObject(v)) return Object.keys(v).length === 0;
  return false;
}
