import { parseDuration } from "../structs/index.js";
import type { Kind } from "./schema.js";
import { show } from "./hcl/value.js";

export type Coerced = { ok: true; value: unknown } | { ok: false; message: string };

/**
 * Turns a decoded value into the type a field wants. HCL converts as HCL does (a number
 * where a string is wanted is fine, "3" where a number is wanted too); JSON, the API's
 * form, takes the types as they are, with durations as integer nanoseconds.
 */
export function coerce(v: unknown, kind: Kind, form: "hcl" | "json"): Coerced {
  const got = (): string => describe(v);
  switch (kind.t) {
    case "string":
      if (typeof v === "string") return { ok: true, value: v };
      if (form === "hcl" && (typeof v === "number" || typeof v === "boolean")) return { ok: true, value: String(v) };
      return { ok: false, message: `must be a string, got ${got()}` };
    case "int":
    case "number": {
      let n: number | undefined;
      if (typeof v === "number") n = v;
      else if (form === "hcl" && typeof v === "string" && /^-?\d+(\.\d+)?$/.test(v.trim())) n = Number(v);
      if (n === undefined || !Number.isFinite(n)) return { ok: false, message: `must be a number, got ${got()}` };
      if (kind.t === "int" && !Number.isInteger(n)) return { ok: false, message: `must be a whole number, got ${n}` };
      if (!Number.isSafeInteger(Math.trunc(n))) return { ok: false, message: `is out of range: ${n}` };
      return { ok: true, value: n };
    }
    case "bool":
      if (typeof v === "boolean") return { ok: true, value: v };
      if (form === "hcl" && (v === "true" || v === "false")) return { ok: true, value: v === "true" };
      return { ok: false, message: `must be true or false, got ${got()}` };
    case "duration": {
      if (form === "json") {
        if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return { ok: true, value: v };
        if (typeof v === "string") {
          const d = parseDuration(v);
          if (d !== undefined) return { ok: true, value: d };
        }
        return { ok: false, message: `must be a duration in nanoseconds (or a string such as "30s"), got ${got()}` };
      }
      if (typeof v === "string") {
        const d = parseDuration(v.trim());
        if (d !== undefined) return { ok: true, value: d };
        if (v.trim().startsWith("-") && parseDuration(v.trim().slice(1)) !== undefined) return { ok: false, message: `must not be negative, got ${JSON.stringify(v)}` };
        return { ok: false, message: `must be a duration such as "30s", "5m" or "1h30m", got ${JSON.stringify(v)}` };
      }
      return { ok: false, message: `must be a duration string such as "30s", got ${got()}` };
    }
    case "strings": {
      if (!Array.isArray(v)) return { ok: false, message: `must be a list of strings, got ${got()}` };
      const out: string[] = [];
      for (const [i, item] of (v as unknown[]).entries()) {
        const c = coerce(item, { t: "string" }, form);
        if (!c.ok) return { ok: false, message: `item ${i} ${c.message}` };
        out.push(c.value as string);
      }
      return { ok: true, value: out };
    }
    case "stringMap": {
      if (!isPlainObject(v)) return { ok: false, message: `must be a map of strings, got ${got()}` };
      const out: Record<string, string> = {};
      for (const [k, item] of Object.entries(v)) {
        const c = coerce(item, { t: "string" }, form);
        if (!c.ok) return { ok: false, message: `key ${JSON.stringify(k)} ${c.message}` };
        out[k] = c.value as string;
      }
      return { ok: true, value: out };
    }
    case "stringListMap": {
      if (!isPlainObject(v)) return { ok: false, message: `must be a map of lists of strings, got ${got()}` };
      const out: Record<string, string[]> = {};
      for (const [k, item] of Object.entries(v)) {
        const c = coerce(Array.isArray(item) ? item : [item], { t: "strings" }, form);
        if (!c.ok) return { ok: false, message: `key ${JSON.stringify(k)}: ${c.message}` };
        out[k] = c.value as string[];
      }
      return { ok: true, value: out };
    }
    case "any":
      return { ok: true, value: v };
    case "object":
    case "list":
    case "unsupported":
      return { ok: false, message: "is a block, not a value" };
    default: {
      const _: never = kind;
      return { ok: false, message: `unknown kind ${JSON.stringify(_)}` };
    }
  }
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function describe(v: unknown): string {
  if (v === null) return "null";
  if (v === undefined) return "nothing";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "an object";
  if (typeof v === "string") return `string ${show(v)}`;
  if (typeof v === "number" || typeof v === "boolean") return `${typeof v === "number" ? "number" : "bool"} ${String(v)}`;
  return typeof v;
}
