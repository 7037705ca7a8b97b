import { parseExpr, type Expr, type Parsed } from "./expr.js";
import { errorMessage } from "../structs/index.js";

/**
 * A constraint on a service's tags that decides whether the router exposes it: the
 * older form `tag==exposed`, `tag!=internal` (with `*` as a wildcard), or an expression
 * ``Tag(`exposed`) && !TagRegex(`^internal-`)``.
 */
export interface Constraint {
  /** As written, for reasons shown to users. */
  text: string;
  test: (tags: readonly string[]) => boolean;
}

export function parseConstraint(text: string): Parsed<Constraint> {
  const t = text.trim();
  const old = /^tag\s*(==|!=)\s*(.+)$/.exec(t);
  if (old !== null) {
    const re = glob((old[2] as string).trim());
    const want = old[1] === "==";
    return { ok: true, value: { text: t, test: (tags) => tags.some((x) => re.test(x)) === want } };
  }
  const e = parseExpr(t);
  if (!e.ok) return { ok: false, reason: `constraint "${t}": ${e.reason} (write tag==VALUE, tag!=VALUE or Tag(\`VALUE\`))` };
  const test = compile(e.value);
  return typeof test === "string" ? { ok: false, reason: `constraint "${t}": ${test}` } : { ok: true, value: { text: t, test } };
}

function compile(e: Expr): ((tags: readonly string[]) => boolean) | string {
  switch (e.op) {
    case "and":
    case "or": {
      const parts: ((tags: readonly string[]) => boolean)[] = [];
      for (const x of e.of) {
        const f = compile(x);
        if (typeof f === "string") return f;
        parts.push(f);
      }
      return e.op === "and" ? (tags) => parts.every((f) => f(tags)) : (tags) => parts.some((f) => f(tags));
    }
    case "not": {
      const f = compile(e.of);
      return typeof f === "string" ? f : (tags) => !f(tags);
    }
    case "call": {
      const arg = e.args[0];
      if (e.args.length !== 1 || arg === undefined) return `${e.name}() takes one argument`;
      if (e.name === "Tag") return (tags) => tags.includes(arg);
      if (e.name === "TagRegex") {
        try {
          const re = new RegExp(arg);
          return (tags) => tags.some((x) => re.test(x));
        } catch (err) {
          return `TagRegex: ${errorMessage(err)}`;
        }
      }
      return `unknown function "${e.name}" (known: Tag, TagRegex)`;
    }
  }
}

function glob(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`);
}
