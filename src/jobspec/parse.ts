import { errorMessage, LIMITS, type Job } from "../structs/index.js";
import { canonicalize, type Canonical, type Problem } from "./canonicalize.js";
import { decodeHclJob } from "./decode-hcl.js";
import { decodeJsonJob } from "./decode-json.js";
import { sortDiagnostics, type Diagnostic, type Pos } from "./diagnostic.js";
import { parseHcl } from "./hcl/parser.js";
import { locate, toHclPath, writtenPath } from "./paths.js";
import { decodeSource } from "./source.js";
import { validateJob } from "./validate.js";
import type { VariableInputs } from "./variables.js";

export type JobFormat = "hcl" | "json";

export interface ParseJobOptions extends VariableInputs {
  /** Name shown in messages (`demoapp.hcl:12:5: ...`). */
  file?: string;
  /** Chosen from the file name or the first character when not given. */
  format?: JobFormat;
  /** The JSON body of an API request, not a job file: keys the model does not know are ignored, as Nomad's decoder ignores them. */
  api?: boolean;
  /**
   * The directory `file()` and the other filesystem functions read from: the job file's, as
   * Nomad's CLI gives them. Without it (a job sent to the API) they are refused, as Nomad's
   * server refuses them.
   */
  fileBase?: string;
}

export type ParseJobResult = { ok: true; job: Job } | { ok: false; diagnostics: Diagnostic[] };

/**
 * A job file (HCL or the API's JSON form) → the canonical Job with every default, or
 * every mistake in it, each with its path and, for HCL, its line and column.
 */
export async function parseJob(source: Uint8Array | string, options: ParseJobOptions = {}): Promise<ParseJobResult> {
  const file = options.file ?? "<input>";
  let text: string;
  if (typeof source === "string") {
    text = source;
  } else {
    const decoded = decodeSource(source, file);
    if (!decoded.ok) return decoded;
    text = decoded.text;
  }
  const format = options.format ?? detectFormat(file, text);
  return format === "json" ? parseJson(text, file, options.api === true) : parseHclJob(text, file, options);
}

export function detectFormat(file: string, text: string): JobFormat {
  if (file.endsWith(".json")) return "json";
  if (file.endsWith(".hcl") || file.endsWith(".nomad")) return "hcl";
  return text.trimStart().startsWith("{") ? "json" : "hcl";
}

async function parseHclJob(text: string, file: string, inputs: VariableInputs & { fileBase?: string }): Promise<ParseJobResult> {
  const parsed = await parseHcl(text, file, { newlines: true });
  if (!parsed.ok) return { ok: false, diagnostics: sortDiagnostics(parsed.diagnostics) };
  const { decoded, diagnostics } = await decodeHclJob(parsed.body, file, inputs);
  if (decoded === null) return { ok: false, diagnostics: sortDiagnostics(diagnostics) };
  const { positions } = decoded;
  const missing = new Set<Diagnostic>();
  const result = finish(canonicalize(decoded.raw), (c, pr) => {
    const pos: Pos | undefined = locate(pr.path, positions, c.aliases);
    // Named where the user wrote it: a job-level update merged into two groups is one mistake, said once.
    const d: Diagnostic = { file, path: toHclPath(writtenPath(pr.path, c.aliases), decoded.raw), message: pr.message };
    if (pos !== undefined) d.pos = pos;
    if (pr.missing === true) missing.add(d);
    return d;
  });
  if (diagnostics.length === 0) return result;
  // A value that could not be decoded took its default; what validation says of it, of what is
  // under it, or of the block that holds it (`config` lacks `image`) is noise.
  const at = [...diagnostics.map((d) => d.path), ...decoded.unread].filter((p) => p !== "");
  const under = (a: string, b: string): boolean => a.startsWith(`${b}.`) || a.startsWith(`${b}[`);
  const shadowed = (path: string): boolean => at.some((p) => path === p || under(path, p) || (under(p, path) && p.slice(path.length).split(/[.[]/).length === 2));
  // "group has no task" beside `taks "web" {}`: the misspelling is the mistake.
  const parentOf = (p: string): string => p.replace(/(\.[^.[\]]+|\[[^\]]*\])$/, "");
  const explained = (d: Diagnostic): boolean => missing.has(d) && diagnostics.some((x) => x.path !== "" && parentOf(x.path) === parentOf(d.path));
  const rest = result.ok ? [] : result.diagnostics.filter((d) => !shadowed(d.path) && !explained(d));
  return { ok: false, diagnostics: sortDiagnostics([...diagnostics, ...rest]) };
}

function parseJson(text: string, file: string, api: boolean): ParseJobResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    if (/^\s*(job|variable|locals)\b/.test(text)) {
      return { ok: false, diagnostics: [{ file, pos: { line: 1, col: 1 }, path: "", message: "this is HCL, not JSON; name the file .hcl" }] };
    }
    const message = errorMessage(err);
    const at = /position (\d+)/.exec(message);
    const d: Diagnostic = { file, path: "", message: `invalid JSON: ${message.replace(/ in JSON at position \d+.*$/, "").replace(/^Unexpected token '(.)', .*$/, "unexpected '$1'")}` };
    if (at?.[1] !== undefined) {
      let offset = Number(at[1]);
      // A trailing comma is reported at what follows it; point at the comma.
      const back = text.slice(0, offset).trimEnd();
      if (back.endsWith(",") && /^\s*[}\]]/.test(text.slice(offset - 1))) {
        offset = back.length - 1;
        d.message = "invalid JSON: a trailing comma before the closing bracket";
      }
      const before = text.slice(0, offset);
      d.pos = { line: before.split("\n").length, col: offset - before.lastIndexOf("\n") };
    }
    return { ok: false, diagnostics: [d] };
  }
  if (depthOf(value) > LIMITS.maxDepth) {
    return { ok: false, diagnostics: [{ file, path: "", message: `nesting is deeper than ${LIMITS.maxDepth} levels; a job never needs that many` }] };
  }
  const decoded = decodeJsonJob(value, file, api);
  if (!decoded.ok) return { ok: false, diagnostics: sortDiagnostics(decoded.diagnostics) };
  return finish(canonicalize(decoded.raw), (_c, pr) => ({ file, path: pr.path === "" ? "Job" : `Job.${pr.path}`, message: pr.message }));
}

function finish(c: Canonical, toDiagnostic: (c: Canonical, p: Problem) => Diagnostic): ParseJobResult {
  const problems = [...c.problems, ...validateJob(c.job)];
  if (problems.length > 0) return { ok: false, diagnostics: sortDiagnostics(problems.map((p) => toDiagnostic(c, p))) };
  return { ok: true, job: c.job };
}

/** How deeply a JSON value nests, measured without recursion. */
function depthOf(value: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop() ?? [null, 0];
    if (typeof v !== "object" || v === null) continue;
    max = Math.max(max, d + 1);
    if (max > LIMITS.maxDepth) return max;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, d + 1]);
  }
  return max;
}
