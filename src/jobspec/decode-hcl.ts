import type { Diagnostic, Pos } from "./diagnostic.js";
import type { Attribute, Block, Body, Expr } from "./hcl/ast.js";
import { EvalError, evaluate, type Scope } from "./hcl/eval.js";
import { isObject, typeName, type Value } from "./hcl/value.js";
import { coerce } from "./coerce.js";
import { CONSTRAINT_SHORTHANDS, JOB_TASKS, jobSchema, type Field, type ObjSchema } from "./schema.js";
import { didYouMean } from "./suggest.js";
import { resolveVariables, type VariableInputs } from "./variables.js";

/** The job as decoded from HCL, in the API's shape, with where each part was written. */
export interface HclDecoded {
  raw: Record<string, unknown>;
  /** API path (`TaskGroups[0].Count`) → where it is in the file. */
  positions: Map<string, Pos>;
  /** HCL paths left at their default because a value they use was refused. */
  unread: string[];
}

/** Mistakes found while decoding come with what could be decoded, so validation can report the rest at once. */
export type HclDecodeResult = { decoded: HclDecoded | null; diagnostics: Diagnostic[] };

const TOP_LEVEL = ["job", "variable", "variables", "locals"];

export async function decodeHclJob(file: Body, fileName: string, inputs: VariableInputs & { fileBase?: string }): Promise<HclDecodeResult> {
  const diags: Diagnostic[] = [];
  const at = (pos: Pos, path: string, message: string): void => {
    diags.push({ file: fileName, pos, path, message });
  };

  const hasJob = file.blocks.some((b) => b.type === "job");
  for (const a of file.attributes) {
    at(a.pos, a.name, hasJob ? `attributes are not allowed at the top of a job file; put "${a.name}" inside the job block` : `"${a.name}" is outside any job; a job file holds one job "name" { ... } block with everything inside it`);
  }
  for (const b of file.blocks) {
    if (TOP_LEVEL.includes(b.type)) continue;
    const inJob = jobSchema.fields.some((f) => f.hcl === b.type) || b.type === "task";
    at(b.pos, b.type, inJob && !hasJob ? `a ${b.type} block belongs inside a job: wrap it in job "name" { ... }` : `unknown block "${b.type}" at the top of the job file${didYouMean(b.type, TOP_LEVEL)}`);
  }

  const vars = await resolveVariables(file.blocks, fileName, inputs);
  diags.push(...vars.diagnostics);
  const scope = localsScope(file.blocks, vars.values, vars.failed, fileName, diags, inputs.fileBase);
  // Every local is evaluated, used or not, so a mistake in one is never hidden.
  for (const b of file.blocks) {
    if (b.type !== "locals") continue;
    for (const a of b.body.attributes) {
      try {
        scope.local(a.name, a.pos);
      } catch (err) {
        if (!(err instanceof EvalError)) throw err;
        if (!err.reported) at(err.pos, `local.${a.name}`, err.message);
      }
    }
  }

  const jobs = file.blocks.filter((b) => b.type === "job");
  const job = jobs[0];
  if (job === undefined) {
    if (diags.length === 0) diags.push({ file: fileName, pos: { line: 1, col: 1 }, path: "", message: 'no job block: a job file holds one job "name" { ... }' });
    return { decoded: null, diagnostics: diags };
  }
  for (const extra of jobs.slice(1)) {
    at(extra.pos, "job", `a job file holds one job; this is a second one (the first is at line ${job.pos.line})`);
  }

  const decoder = new Decoder(scope, fileName, diags);
  const raw = decoder.block(job, jobSchema, "", "job");
  groupJobTasks(raw, decoder.positions);
  return { decoded: { raw, positions: decoder.positions, unread: decoder.unread }, diagnostics: diags };
}

/**
 * Tasks written directly in the job (`job "x" { task "y" { ... } }`, as Nomad's HCL2 takes
 * them) each run in a group of their own named after the task, placed before the job's
 * groups, as Nomad's `normalizeJob` does; the positions follow them, so a diagnostic still
 * points at the line written.
 */
function groupJobTasks(raw: Record<string, unknown>, positions: Map<string, Pos>): void {
  const tasks = raw[JOB_TASKS];
  Reflect.deleteProperty(raw, JOB_TASKS);
  if (!Array.isArray(tasks) || tasks.length === 0) return;
  const groups = Array.isArray(raw.TaskGroups) ? (raw.TaskGroups as unknown[]) : [];
  raw.TaskGroups = [...tasks.map((t: Record<string, unknown>) => ({ Name: t.Name, Tasks: [t] })), ...groups];
  const moved = new Map<string, Pos>();
  for (const [key, pos] of positions) {
    const task = /^JobTasks\[(\d+)\](.*)$/.exec(key);
    const group = /^TaskGroups\[(\d+)\](.*)$/.exec(key);
    if (task !== null) {
      moved.set(`TaskGroups[${task[1]}]`, pos);
      moved.set(`TaskGroups[${task[1]}].Tasks[0]${task[2]}`, pos);
    } else if (group !== null) moved.set(`TaskGroups[${Number(group[1]) + tasks.length}]${group[2]}`, pos);
    else moved.set(key, pos);
  }
  positions.clear();
  for (const [k, v] of moved) positions.set(k, v);
}

/** `local.NAME` evaluated on first use, so locals may refer to each other in any order. */
function localsScope(blocks: Block[], vars: Record<string, Value>, failed: ReadonlySet<string>, fileName: string, diags: Diagnostic[], fileBase: string | undefined): Scope {
  const defs = new Map<string, Attribute>();
  for (const b of blocks) {
    if (b.type !== "locals") continue;
    if (b.labels.length > 0) diags.push({ file: fileName, pos: b.pos, path: "locals", message: "a locals block takes no label" });
    for (const blk of b.body.blocks) diags.push({ file: fileName, pos: blk.pos, path: `locals.${blk.type}`, message: "a locals block holds attributes only" });
    for (const a of b.body.attributes) {
      const prev = defs.get(a.name);
      if (prev !== undefined) {
        diags.push({ file: fileName, pos: a.pos, path: `local.${a.name}`, message: `local "${a.name}" is defined twice (first at line ${prev.pos.line})` });
      } else defs.set(a.name, a);
    }
  }
  const done = new Map<string, Value>();
  const busy = new Set<string>();
  const scope: Scope = {
    vars,
    failed,
    iterators: new Map(),
    runtimeReferences: true,
    ...(fileBase === undefined ? {} : { fileBase }),
    local(name: string, pos: Pos): Value {
      const have = done.get(name);
      if (have !== undefined) return have;
      const def = defs.get(name);
      if (def === undefined) throw new EvalError(pos, `there is no local named "${name}"${didYouMean(name, [...defs.keys()])}`);
      if (busy.has(name)) throw new EvalError(def.pos, `local "${name}" refers to itself`);
      busy.add(name);
      try {
        const v = evaluate(def.expr, scope);
        done.set(name, v);
        return v;
      } finally {
        busy.delete(name);
      }
    },
  };
  return scope;
}

class Decoder {
  readonly positions = new Map<string, Pos>();
  /** HCL paths whose value could not be read for a reason reported elsewhere. */
  readonly unread: string[] = [];

  /** The scope expressions are read in: the file's, or a `dynamic` block's with its iterator added. */
  private scope: Scope;

  constructor(
    scope: Scope,
    private readonly file: string,
    private readonly diags: Diagnostic[],
  ) {
    this.scope = scope;
  }

  /**
   * HCL2's `dynamic "TYPE" { for_each labels iterator content { ... } }` blocks, expanded
   * into one TYPE block per element of `for_each` (its key and value under the iterator's
   * name, TYPE by default), each read in the scope that holds its iterator. Other blocks
   * pass through in the current scope.
   */
  private expand(blocks: Block[], path: string): { b: Block; scope: Scope }[] {
    const out: { b: Block; scope: Scope }[] = [];
    for (const b of blocks) {
      if (b.type !== "dynamic") {
        out.push({ b, scope: this.scope });
        continue;
      }
      const at = `${path}.dynamic`;
      const type = b.labels[0]?.value;
      if (b.labels.length !== 1 || type === undefined) {
        this.err(b.pos, at, 'a dynamic block needs one label, the type of the blocks it makes: dynamic "port" { ... }');
        continue;
      }
      const here = `${path}.dynamic[${type}]`;
      const attr = (name: string): Attribute | undefined => b.body.attributes.find((a) => a.name === name);
      for (const a of b.body.attributes) {
        if (!["for_each", "iterator", "labels"].includes(a.name)) this.err(a.pos, `${here}.${a.name}`, `unknown attribute "${a.name}" in dynamic; it takes for_each, iterator, labels and a content block`);
      }
      const contents = b.body.blocks.filter((x) => x.type === "content");
      for (const x of b.body.blocks) if (x.type !== "content") this.err(x.pos, `${here}.${x.type}`, `a dynamic block holds one content { ... } block, not "${x.type}"`);
      const content = contents[0];
      if (content === undefined) {
        this.err(b.pos, here, "a dynamic block needs a content { ... } block: what each generated block holds");
        continue;
      }
      if (contents.length > 1) this.err(contents[1]?.pos ?? b.pos, here, "a dynamic block holds one content block");
      const forEach = attr("for_each");
      if (forEach === undefined) {
        this.err(b.pos, here, "a dynamic block needs for_each, the collection it makes a block for each element of");
        continue;
      }
      const iteratorAttr = attr("iterator");
      let name = type;
      if (iteratorAttr !== undefined) {
        if (iteratorAttr.expr.kind !== "variable") {
          this.err(iteratorAttr.pos, `${here}.iterator`, "iterator must be a bare name, as in iterator = p");
          continue;
        }
        name = iteratorAttr.expr.name;
      }
      const collection = this.eval(forEach.expr, `${here}.for_each`);
      if (collection === undefined) continue;
      const items: [Value, Value][] = Array.isArray(collection) ? collection.map((v, i) => [i, v]) : isObject(collection) ? Object.entries(collection) : [];
      if (!Array.isArray(collection) && !isObject(collection)) {
        this.err(forEach.pos, `${here}.for_each`, `for_each must be a list, a set or a map, got ${typeName(collection)}`);
        continue;
      }
      const outer = this.scope;
      for (const [key, value] of items) {
        const iterators = new Map(outer.iterators);
        iterators.set(name, { key, value });
        const inner: Scope = { ...outer, iterators };
        const labels: { value: string; pos: Pos }[] = [];
        const labelsAttr = attr("labels");
        if (labelsAttr !== undefined) {
          this.scope = inner;
          const v = this.eval(labelsAttr.expr, `${here}.labels`);
          this.scope = outer;
          if (v === undefined) continue;
          if (!Array.isArray(v) || !v.every((l) => typeof l === "string" || typeof l === "number")) {
            this.err(labelsAttr.pos, `${here}.labels`, "labels must be a list of strings");
            break;
          }
          for (const l of v) labels.push({ value: String(l), pos: labelsAttr.pos });
        }
        out.push({ b: { type, labels, body: content.body, pos: content.pos }, scope: inner });
      }
    }
    return out;
  }

  private err(pos: Pos, path: string, message: string): void {
    this.diags.push({ file: this.file, pos, path, message });
  }

  private eval(e: Expr, path: string): Value | undefined {
    try {
      return evaluate(e, this.scope);
    } catch (err) {
      if (err instanceof EvalError) {
        if (err.reported) this.unread.push(path);
        else this.err(err.pos, path, err.message);
        return undefined;
      }
      throw err;
    }
  }

  /** A block of `schema` at `api` (API path) / `hcl` (HCL path). */
  block(b: Block, schema: ObjSchema, api: string, hcl: string): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    this.positions.set(api, b.pos);
    const labelField = schema.fields.find((f) => f.label === true);
    if (labelField !== undefined) {
      const label = b.labels[0];
      if (b.labels.length !== 1 || label === undefined) {
        this.err(b.pos, hcl, `a ${schema.name} block needs exactly one label, its ${labelField.api === "Name" || labelField.api === "ID" ? "name" : "value"}: ${schema.name} "example" { ... }`);
      } else {
        out[labelField.api] = label.value;
        this.positions.set(join(api, labelField.api), label.pos);
      }
    } else if (b.labels.length > 0) {
      this.err(b.labels[0]?.pos ?? b.pos, hcl, `a ${schema.name} block takes no label`);
    }
    this.body(b.body, schema, api, hcl, out);
    return out;
  }

  private body(body: Body, schema: ObjSchema, api: string, hcl: string, out: Record<string, unknown>): void {
    const seen = new Map<string, Pos>();
    const attrNames = schema.fields.filter((f) => f.hcl !== "" && (f.block !== true || isMapKind(f))).map((f) => f.hcl);
    const blockNames = schema.fields.filter((f) => f.hcl !== "" && (f.block === true || isMapKind(f) || f.kind.t === "any")).map((f) => f.hcl);

    for (const a of body.attributes) {
      const path = `${hcl}.${a.name}`;
      const first = seen.get(a.name);
      if (first !== undefined) {
        this.err(a.pos, path, `"${a.name}" is set twice in this ${schema.name} block (first at line ${first.line})`);
        continue;
      }
      seen.set(a.name, a.pos);
      if (isConstraintSchema(schema) && (CONSTRAINT_SHORTHANDS as readonly string[]).includes(a.name)) {
        this.shorthand(a, api, path, out);
        continue;
      }
      const field = schema.fields.find((f) => f.hcl === a.name && (f.block !== true || isMapKind(f)));
      if (field === undefined) {
        const asBlock = schema.fields.find((f) => f.hcl === a.name);
        if (asBlock?.kind.t === "unsupported") this.err(a.pos, path, unsupported(a.name, asBlock.why));
        else if (asBlock !== undefined) this.err(a.pos, path, `"${a.name}" is a block: write ${a.name} { ... }, not ${a.name} = ...`);
        else this.err(a.pos, path, `unknown attribute "${a.name}" in ${schema.name}${BELONGS_ELSEWHERE[`${schema.name}.${a.name}`] ?? didYouMean(a.name, [...attrNames, ...extraNames(schema)])}`);
        continue;
      }
      const v = this.eval(a.expr, path);
      if (v === undefined) continue;
      if (v === null) continue;
      const c = coerce(v, field.kind, "hcl");
      if (!c.ok) {
        this.err(a.pos, path, `${a.name} ${c.message}`);
        continue;
      }
      if (field.api === "") continue;
      out[field.api] = c.value;
      this.positions.set(join(api, field.api), a.pos);
    }

    const counts = new Map<string, number>();
    const outer = this.scope;
    for (const { b, scope } of this.expand(body.blocks, hcl)) {
      this.scope = scope;
      const path = `${hcl}.${b.type}`;
      const field = schema.fields.find((f) => f.hcl === b.type && (f.block === true || isMapKind(f) || f.kind.t === "any"));
      if (field === undefined) {
        const asAttr = schema.fields.find((f) => f.hcl === b.type);
        if (asAttr !== undefined) this.err(b.pos, path, `"${b.type}" is an attribute: write ${b.type} = ..., not a block`);
        else this.err(b.pos, path, `unknown block "${b.type}" in ${schema.name}${didYouMean(b.type, [...blockNames, ...attrNames])}`);
        continue;
      }
      const first = seen.get(b.type);
      if (first !== undefined && field.kind.t !== "list") {
        this.err(b.pos, path, `only one ${b.type} block is allowed in a ${schema.name} (the first is at line ${first.line})`);
        continue;
      }
      seen.set(b.type, b.pos);
      switch (field.kind.t) {
        case "unsupported":
          this.err(b.pos, path, unsupported(b.type, field.why));
          break;
        case "object": {
          const value = this.block(b, field.kind.schema, field.api === "" ? api : join(api, field.api), path);
          if (field.api === "") Object.assign(out, value);
          else out[field.api] = value;
          break;
        }
        case "list": {
          const i = counts.get(b.type) ?? 0;
          counts.set(b.type, i + 1);
          const label = b.labels[0]?.value;
          const itemHcl = field.kind.schema.fields.some((f) => f.label === true) && label !== undefined ? `${path}[${label}]` : `${path}[${i}]`;
          const list = (out[field.api] as unknown[] | undefined) ?? [];
          list.push(this.block(b, field.kind.schema, `${join(api, field.api)}[${i}]`, itemHcl));
          out[field.api] = list;
          break;
        }
        default: {
          if (b.labels.length > 0) this.err(b.pos, path, `a ${b.type} block takes no label`);
          const v = this.freeform(b.body, path, join(api, field.api));
          const c = coerce(v, field.kind, "hcl");
          if (!c.ok) {
            this.err(b.pos, path, `${b.type} ${c.message}`);
            break;
          }
          out[field.api] = c.value;
          this.positions.set(join(api, field.api), b.pos);
        }
      }
    }
    this.scope = outer;
  }

  /** `distinct_hosts = true`, `regexp = "..."`, ... inside a constraint block. */
  private shorthand(a: Attribute, api: string, path: string, out: Record<string, unknown>): void {
    const v = this.eval(a.expr, path);
    if (v === undefined) return;
    if (out.Operand !== undefined) {
      this.err(a.pos, path, `"${a.name}" sets the operator, which is already set in this block`);
      return;
    }
    out.Operand = a.name;
    this.positions.set(join(api, "Operand"), a.pos);
    if (a.name === "distinct_hosts") {
      const c = coerce(v, { t: "bool" }, "hcl");
      if (!c.ok) this.err(a.pos, path, `distinct_hosts ${c.message}`);
      else out.RTarget = String(c.value);
      return;
    }
    const c = coerce(v, { t: "string" }, "hcl");
    if (!c.ok) {
      this.err(a.pos, path, `${a.name} ${c.message}`);
      return;
    }
    if (a.name === "distinct_property") {
      out.LTarget = c.value;
      this.positions.set(join(api, "LTarget"), a.pos);
    } else {
      out.RTarget = c.value;
      this.positions.set(join(api, "RTarget"), a.pos);
    }
  }

  /** A block read as a plain value (driver `config`, `env`, `meta`): attributes and nested blocks. */
  private freeform(body: Body, path: string, api: string): Value {
    const out: Record<string, Value> = {};
    for (const a of body.attributes) {
      if (Object.hasOwn(out, a.name)) {
        this.err(a.pos, `${path}.${a.name}`, `"${a.name}" is set twice`);
        continue;
      }
      const v = this.eval(a.expr, `${path}.${a.name}`);
      if (v !== undefined) out[a.name] = v;
      this.positions.set(`${api}.${a.name}`, a.pos);
    }
    const grouped = new Map<string, Value[]>();
    const outer = this.scope;
    for (const { b, scope } of this.expand(body.blocks, path)) {
      this.scope = scope;
      this.positions.set(`${api}.${b.type}`, b.pos);
      let v = this.freeform(b.body, `${path}.${b.type}`, `${api}.${b.type}`);
      for (const l of [...b.labels].reverse()) v = { [l.value]: v };
      const list = grouped.get(b.type) ?? [];
      list.push(v);
      grouped.set(b.type, list);
    }
    this.scope = outer;
    for (const [type, list] of grouped) {
      if (Object.hasOwn(out, type)) {
        this.err(body.pos, `${path}.${type}`, `"${type}" is set both as an attribute and as a block`);
        continue;
      }
      const only = list[0];
      out[type] = list.length === 1 && only !== undefined && isObject(only) ? only : list;
    }
    return out;
  }
}

function isMapKind(f: Field): boolean {
  return f.kind.t === "stringMap" || f.kind.t === "stringListMap";
}

function isConstraintSchema(s: ObjSchema): boolean {
  return s.name === "constraint" || s.name === "affinity";
}

function extraNames(s: ObjSchema): string[] {
  return isConstraintSchema(s) ? [...CONSTRAINT_SHORTHANDS] : [];
}

/** Attributes written in a block where Nomad does not take them, though another block does: where they go. */
const BELONGS_ELSEWHERE: Readonly<Record<string, string>> = {
  "task.count": ": count is the group's (how many of its allocations run); set it in the group block",
  "group.driver": ": driver is a task's; set it in the task block",
};

function unsupported(name: string, why: string | undefined): string {
  if (why !== undefined) return `"${name}": ${why}`;
  return `"${name}" is a Nomad feature Ruche does not support yet; remove it or run the job elsewhere`;
}

export function join(api: string, field: string): string {
  return api === "" ? field : `${api}.${field}`;
}
