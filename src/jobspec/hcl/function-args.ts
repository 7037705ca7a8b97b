import { isObject, typeName, type Value } from "./value.js";

/** A function of a job file: its arguments evaluated; it throws a plain Error with a message the evaluator places. */
export type Fn = (args: Value[]) => Value;

/** The checks of a function's arguments, each naming the function and the argument's place. */
export function str(v: Value | undefined, fn: string, n: number): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  throw new Error(`${fn}: argument ${n} must be a string, got ${v === undefined ? "nothing" : typeName(v)}`);
}

export function num(v: Value | undefined, fn: string, n: number): number {
  if (typeof v === "number") return v;
  if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) return Number(v);
  throw new Error(`${fn}: argument ${n} must be a number, got ${v === undefined ? "nothing" : typeName(v)}`);
}

export function list(v: Value | undefined, fn: string, n: number): Value[] {
  if (Array.isArray(v)) return v;
  throw new Error(`${fn}: argument ${n} must be a list, got ${v === undefined ? "nothing" : typeName(v)}`);
}

export function obj(v: Value | undefined, fn: string, n: number): { [k: string]: Value } {
  if (v !== undefined && isObject(v)) return v;
  throw new Error(`${fn}: argument ${n} must be a map, got ${v === undefined ? "nothing" : typeName(v)}`);
}

export function arity(args: Value[], fn: string, min: number, max = min): void {
  if (args.length < min || args.length > max) {
    const want = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
    throw new Error(`${fn}: takes ${want} argument${min === 1 && max === 1 ? "" : "s"}, got ${args.length}`);
  }
}
