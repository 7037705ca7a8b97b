import type { Dep } from "./deps.js";
import { execTemplate } from "./exec.js";
import { templateFuncs, type RenderInputs } from "./funcs.js";
import { parseTemplate, type Parsed } from "./parse.js";

/** One render of a template: its output once everything it reads is known, or what it still waits for. */
export type RenderResult = { ok: true; output: string; deps: Map<string, Dep> } | { ok: false; missing: string[]; deps: Map<string, Dep> };

/** A template read once, with its delimiters and missing-key rule. */
export interface CompiledTemplate {
  parsed: Parsed;
  errMissingKey: boolean;
}

/** Reads a template; a `TemplateError` says where it is wrong. */
export function compileTemplate(text: string, o: { left?: string; right?: string; errMissingKey?: boolean } = {}): CompiledTemplate {
  return { parsed: parseTemplate(text, o.left ?? "{{", o.right ?? "}}"), errMissingKey: o.errMissingKey ?? false };
}

/**
 * Renders a template from what the brain holds (pure). When a dependency is not there yet,
 * the output is not given: the caller fetches the missing ones and renders again.
 */
export function renderTemplate(t: CompiledTemplate, inputs: RenderInputs): RenderResult {
  const { funcs, trace } = templateFuncs(inputs);
  const output = execTemplate(t.parsed, undefined, { funcs, errMissingKey: t.errMissingKey });
  if (trace.missing.size > 0) return { ok: false, missing: [...trace.missing].sort(), deps: trace.deps };
  return { ok: true, output, deps: trace.deps };
}

/**
 * A template's output as environment variables (`env = true`), read as Nomad reads it:
 * `KEY=VALUE` lines, `#` comments and blank lines skipped, an `export ` prefix allowed, a
 * value in double quotes (escapes `\n`, `\"`, `\\`) or single quotes taken as written.
 */
export function parseEnvFile(text: string): { ok: true; env: Record<string, string> } | { ok: false; error: string } {
  const env: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? "").trim();
    if (line === "" || line.startsWith("#")) continue;
    const body = line.startsWith("export ") ? line.slice(7).trimStart() : line;
    const eq = body.indexOf("=");
    if (eq <= 0) return { ok: false, error: `line ${i + 1}: expected KEY=VALUE, got ${JSON.stringify(line)}` };
    const key = body.slice(0, eq).trim();
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(key)) return { ok: false, error: `line ${i + 1}: invalid variable name ${JSON.stringify(key)}` };
    let value = body.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) {
      value = value.slice(1, -1).replace(/\\([nrt"\\$])/g, (_w, c: string) => ({ n: "\n", r: "\r", t: "\t" })[c] ?? c);
    } else if (value.startsWith("'") && value.endsWith("'") && value.length >= 2) {
      value = value.slice(1, -1);
    } else {
      const hash = value.search(/\s#/);
      if (hash >= 0) value = value.slice(0, hash).trimEnd();
    }
    env[key] = value;
  }
  return { ok: true, env };
}
