/** A value an HCL expression evaluates to. */
export type Value = string | number | boolean | null | Value[] | { [key: string]: Value };

export type ValueObject = { [key: string]: Value };

export function isObject(v: Value): v is ValueObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function typeName(v: Value): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "list";
  if (typeof v === "object") return "object";
  return typeof v === "boolean" ? "bool" : typeof v;
}

/** How a value reads in an error message. */
export function show(v: Value): string {
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
