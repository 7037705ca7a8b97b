/**
 * Go's text/template syntax, the subset consul-template's templates use (and so Nomad's
 * `template` blocks): text and actions between delimiters (`{{ }}` or the block's own),
 * `{{-` and `-}}` trimming the space beside them, comments, pipelines with `|`, variables
 * (`$x :=`, `$x =`, `$k, $v :=`), `if` / `else if` / `else`, `range` (with `else`,
 * `break`, `continue`), `with` (with `else with`), `define`, `template` and `block`. Pure: a
 * string in, a tree out, or a `TemplateError` that says where.
 */

/** A template that cannot be read or run: the message says where (`line N`). */
export class TemplateError extends Error {}

export type Node =
  | { t: "text"; text: string }
  | { t: "action"; pipe: Pipeline; line: number }
  | { t: "if" | "with"; pipe: Pipeline; list: Node[]; else: Node[] | null; line: number }
  | { t: "range"; pipe: Pipeline; list: Node[]; else: Node[] | null; line: number }
  | { t: "template"; name: string; pipe: Pipeline | null; line: number }
  | { t: "break" | "continue"; line: number };

export interface Pipeline {
  /** Variables declared (`:=`) or assigned (`=`) by the pipeline. */
  decl: string[];
  assign: boolean;
  cmds: Command[];
  line: number;
}

export type Command = Operand[];

export type Operand =
  | { t: "field"; base: Operand | null; names: string[] }
  | { t: "var"; name: string; names: string[] }
  | { t: "ident"; name: string }
  | { t: "string"; value: string }
  | { t: "number"; value: number }
  | { t: "bool"; value: boolean }
  | { t: "nil" }
  | { t: "dot" }
  | { t: "pipe"; pipe: Pipeline; names: string[] };

export interface Parsed {
  root: Node[];
  /** `{{ define "name" }}` bodies. */
  defines: Map<string, Node[]>;
}

type Tok =
  | { k: "ident" | "var" | "string" | "number" | "char"; v: string }
  /** `adj`: written right after the previous token (`$x.Name`, `(…).Name`), so it reads a field of it. */
  | { k: "field"; v: string; adj: boolean }
  | { k: "(" | ")" | "|" | ":=" | "=" | "," | "dot" }
  | { k: "end" };

interface Action {
  toks: Tok[];
  line: number;
}

type Piece = { text: string } | { action: Action };

/** Splits a template into text and the tokens of each action. */
function lex(src: string, left: string, right: string): Piece[] {
  const out: Piece[] = [];
  let i = 0;
  let trimNextText = false;
  const lineAt = (pos: number): number => src.slice(0, pos).split("\n").length;
  while (i <= src.length) {
    const start = src.indexOf(left, i);
    let text = start < 0 ? src.slice(i) : src.slice(i, start);
    if (trimNextText) text = text.replace(/^\s+/, "");
    trimNextText = false;
    if (start < 0) {
      if (text !== "") out.push({ text });
      break;
    }
    let j = start + left.length;
    // `{{- ` trims the text before it (the dash must be followed by a space).
    if (src[j] === "-" && /\s/.test(src[j + 1] ?? "")) {
      text = text.replace(/\s+$/, "");
      j += 2;
    }
    if (text !== "") out.push({ text });
    const line = lineAt(start);
    const body = actionBody(src, j, right, line);
    const rest = body.end + right.length;
    if (body.trimRight) trimNextText = true;
    const inner = body.text.trim();
    if (inner.startsWith("/*")) {
      if (!inner.endsWith("*/")) throw new TemplateError(`line ${line}: unclosed comment`);
    } else {
      out.push({ action: { toks: tokens(body.text, line), line } });
    }
    i = rest;
  }
  return out;
}

/** Where an action's body ends: at the right delimiter outside any string. */
function actionBody(src: string, from: number, right: string, line: number): { text: string; end: number; trimRight: boolean } {
  let j = from;
  while (j < src.length) {
    const c = src[j];
    if (c === '"' || c === "`" || c === "'") {
      const close = c;
      j++;
      while (j < src.length && src[j] !== close) {
        if (src[j] === "\\" && close !== "`") j++;
        j++;
      }
      if (j >= src.length) throw new TemplateError(`line ${line}: unterminated quoted string`);
      j++;
      continue;
    }
    if (src.startsWith(right, j)) {
      // ` -}}` trims the text after it.
      if (src[j - 1] === "-" && /\s/.test(src[j - 2] ?? "")) return { text: src.slice(from, j - 1), end: j, trimRight: true };
      return { text: src.slice(from, j), end: j, trimRight: false };
    }
    if (src.startsWith("/*", j)) {
      const close = src.indexOf("*/", j + 2);
      if (close < 0) throw new TemplateError(`line ${line}: unclosed comment`);
      j = close + 2;
      continue;
    }
    j++;
  }
  throw new TemplateError(`line ${line}: unclosed action (no "${right}")`);
}

function tokens(s: string, line: number): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i] ?? "";
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "(" || c === ")" || c === "|" || c === ",") {
      out.push({ k: c });
      i++;
      continue;
    }
    if (s.startsWith(":=", i)) {
      out.push({ k: ":=" });
      i += 2;
      continue;
    }
    if (c === "=") {
      out.push({ k: "=" });
      i++;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      while (j < s.length && s[j] !== '"') j += s[j] === "\\" ? 2 : 1;
      out.push({ k: "string", v: unquote(s.slice(i, j + 1), line) });
      i = j + 1;
      continue;
    }
    if (c === "`") {
      const j = s.indexOf("`", i + 1);
      out.push({ k: "string", v: s.slice(i + 1, j) });
      i = j + 1;
      continue;
    }
    if (c === "'") {
      let j = i + 1;
      while (j < s.length && s[j] !== "'") j += s[j] === "\\" ? 2 : 1;
      const ch = unquote(`"${s.slice(i + 1, j)}"`, line);
      out.push({ k: "char", v: String(ch.codePointAt(0) ?? 0) });
      i = j + 1;
      continue;
    }
    if (c === ".") {
      const m = /^\.[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(i));
      if (m === null) {
        out.push({ k: "dot" });
        i++;
        continue;
      }
      out.push({ k: "field", v: m[0].slice(1), adj: i > 0 && !/\s/.test(s[i - 1] ?? "") && s[i - 1] !== "(" && s[i - 1] !== "|" });
      i += m[0].length;
      continue;
    }
    if (c === "$") {
      const m = /^\$[A-Za-z0-9_]*/.exec(s.slice(i)) ?? ["$"];
      out.push({ k: "var", v: m[0] });
      i += m[0].length;
      continue;
    }
    const num = /^[+-]?(0[xX][0-9a-fA-F_]+|0[oO]?[0-7_]+|0[bB][01_]+|(\d[\d_]*)?\.?\d[\d_]*([eE][+-]?\d+)?)/.exec(s.slice(i));
    if (num !== null && num[0] !== "" && (/\d/.test(c) || ((c === "-" || c === "+") && /[\d.]/.test(s[i + 1] ?? "")))) {
      out.push({ k: "number", v: num[0] });
      i += num[0].length;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(i));
    if (id !== null) {
      out.push({ k: "ident", v: id[0] });
      i += id[0].length;
      continue;
    }
    throw new TemplateError(`line ${line}: unexpected "${c}" in action`);
  }
  return out;
}

function unquote(q: string, line: number): string {
  try {
    return JSON.parse(q.replace(/\\x([0-9a-fA-F]{2})/g, "\\u00$1").replace(/\\([abfv'])/g, (_w, ch: string) => ({ a: "\\u0007", b: "\\b", f: "\\f", v: "\\u000b", "'": "'" })[ch] ?? ch)) as string;
  } catch {
    throw new TemplateError(`line ${line}: bad quoted string ${q}`);
  }
}

function numberOf(v: string, line: number): number {
  const s = v.replace(/_/g, "");
  let n: number;
  if (/^[+-]?0[xX]/.test(s)) n = parseInt(s.replace(/0[xX]/, ""), 16) * (s.startsWith("-") ? -1 : 1);
  else if (/^[+-]?0[bB]/.test(s)) n = parseInt(s.replace(/0[bB]/, ""), 2) * (s.startsWith("-") ? -1 : 1);
  else if (/^[+-]?0[oO]?[0-7]+$/.test(s) && s.replace(/^[+-]/, "").length > 1) n = parseInt(s.replace(/0[oO]?/, ""), 8) * (s.startsWith("-") ? -1 : 1);
  else n = Number(s);
  if (!Number.isFinite(n)) throw new TemplateError(`line ${line}: bad number ${v}`);
  return n;
}

/** Parses a template with the given delimiters. */
export function parseTemplate(src: string, left = "{{", right = "}}"): Parsed {
  const pieces = lex(src, left, right);
  const defines = new Map<string, Node[]>();
  let pos = 0;

  /** Reads nodes until an action that ends the list (`end`, `else`); returns it, or null at the end of input. */
  function list(top: boolean): { nodes: Node[]; stop: Action | null } {
    const nodes: Node[] = [];
    while (pos < pieces.length) {
      const p = pieces[pos++];
      if (p === undefined) break;
      if ("text" in p) {
        nodes.push({ t: "text", text: p.text });
        continue;
      }
      const a = p.action;
      const first = a.toks[0];
      const kw = first?.k === "ident" ? first.v : "";
      if (kw === "end" || kw === "else") {
        if (top) throw new TemplateError(`line ${a.line}: unexpected {{${kw}}}`);
        return { nodes, stop: a };
      }
      if (kw === "if" || kw === "with" || kw === "range") {
        nodes.push(control(kw, a, a.toks.slice(1)));
        continue;
      }
      if (kw === "define" || kw === "block") {
        const name = a.toks[1];
        if (name?.k !== "string") throw new TemplateError(`line ${a.line}: ${kw} needs a quoted name`);
        const body = list(false);
        if (body.stop === null || !isEnd(body.stop)) throw new TemplateError(`line ${a.line}: unclosed ${kw} "${name.v}" (no {{end}})`);
        defines.set(name.v, body.nodes);
        if (kw === "block") nodes.push({ t: "template", name: name.v, pipe: a.toks.length > 2 ? pipeline(a.toks.slice(2), a.line, false) : null, line: a.line });
        continue;
      }
      if (kw === "template") {
        const name = a.toks[1];
        if (name?.k !== "string") throw new TemplateError(`line ${a.line}: template needs a quoted name`);
        nodes.push({ t: "template", name: name.v, pipe: a.toks.length > 2 ? pipeline(a.toks.slice(2), a.line, false) : null, line: a.line });
        continue;
      }
      if ((kw === "break" || kw === "continue") && a.toks.length === 1) {
        nodes.push({ t: kw, line: a.line });
        continue;
      }
      nodes.push({ t: "action", pipe: pipeline(a.toks, a.line, true), line: a.line });
    }
    if (!top) return { nodes, stop: null };
    return { nodes, stop: null };
  }

  function isEnd(a: Action): boolean {
    const f = a.toks[0];
    return f?.k === "ident" && f.v === "end" && a.toks.length === 1;
  }

  function control(kw: "if" | "with" | "range", a: Action, toks: Tok[]): Node {
    if (toks.length === 0) throw new TemplateError(`line ${a.line}: missing value for ${kw}`);
    const pipe = pipeline(toks, a.line, true);
    const body = list(false);
    if (body.stop === null) throw new TemplateError(`line ${a.line}: unclosed ${kw} (no {{end}})`);
    let elseList: Node[] | null = null;
    if (!isEnd(body.stop)) {
      const rest = body.stop.toks.slice(1);
      const chained = rest[0];
      if (chained?.k === "ident" && (chained.v === "if" || chained.v === "with") && kw !== "range") {
        // `else if` / `else with`: the rest of the chain, which consumes the one {{end}}.
        elseList = [control(chained.v, body.stop, rest.slice(1))];
        return { t: kw, pipe, list: body.nodes, else: elseList, line: a.line };
      }
      if (rest.length > 0) throw new TemplateError(`line ${body.stop.line}: unexpected tokens after else`);
      const after = list(false);
      if (after.stop === null || !isEnd(after.stop)) throw new TemplateError(`line ${a.line}: unclosed ${kw} (no {{end}} after {{else}})`);
      elseList = after.nodes;
    }
    return kw === "range" ? { t: "range", pipe, list: body.nodes, else: elseList, line: a.line } : { t: kw, pipe, list: body.nodes, else: elseList, line: a.line };
  }

  const root = list(true).nodes;
  return { root, defines };
}

/** A pipeline: optional declarations, then commands separated by `|`. */
function pipeline(toks: Tok[], line: number, mayDeclare: boolean): Pipeline {
  let rest = toks;
  const decl: string[] = [];
  let assign = false;
  if (mayDeclare) {
    const declEnd = rest.findIndex((t) => t.k === ":=" || t.k === "=");
    if (declEnd > 0 && rest.slice(0, declEnd).every((t, i) => (i % 2 === 0 ? t.k === "var" : t.k === ","))) {
      for (const t of rest.slice(0, declEnd)) if (t.k === "var") decl.push(t.v);
      assign = rest[declEnd]?.k === "=";
      rest = rest.slice(declEnd + 1);
    }
  }
  const cmds: Command[] = [];
  let cur: Operand[] = [];
  let i = 0;
  while (i < rest.length) {
    const t = rest[i];
    if (t === undefined) break;
    if (t.k === "|") {
      if (cur.length === 0) throw new TemplateError(`line ${line}: missing command before |`);
      cmds.push(cur);
      cur = [];
      i++;
      continue;
    }
    const r = operand(rest, i, line);
    cur.push(r.op);
    i = r.next;
  }
  if (cur.length > 0) cmds.push(cur);
  if (cmds.length === 0) throw new TemplateError(`line ${line}: missing value in action`);
  return { decl, assign, cmds, line };
}

function operand(toks: Tok[], i: number, line: number): { op: Operand; next: number } {
  const t = toks[i];
  if (t === undefined) throw new TemplateError(`line ${line}: missing operand`);
  let firstAdj = false;
  const chain = (from: number): { names: string[]; next: number } => {
    const names: string[] = [];
    let j = from;
    for (let n = toks[j]; n?.k === "field" && ((j === from && firstAdj) || n.adj); n = toks[++j]) names.push(n.v);
    return { names, next: j };
  };
  switch (t.k) {
    case "field": {
      firstAdj = true;
      const c = chain(i);
      return { op: { t: "field", base: null, names: c.names }, next: c.next };
    }
    case "var": {
      firstAdj = false;
      const c = chain(i + 1);
      return { op: { t: "var", name: t.v, names: c.names }, next: c.next };
    }
    case "dot":
      return { op: { t: "dot" }, next: i + 1 };
    case "string":
      return { op: { t: "string", value: t.v }, next: i + 1 };
    case "number":
    case "char":
      return { op: { t: "number", value: t.k === "char" ? Number(t.v) : numberOf(t.v, line) }, next: i + 1 };
    case "ident":
      if (t.v === "true" || t.v === "false") return { op: { t: "bool", value: t.v === "true" }, next: i + 1 };
      if (t.v === "nil") return { op: { t: "nil" }, next: i + 1 };
      return { op: { t: "ident", name: t.v }, next: i + 1 };
    case "(": {
      let depth = 1;
      let j = i + 1;
      for (; j < toks.length && depth > 0; j++) {
        const k = toks[j]?.k;
        if (k === "(") depth++;
        else if (k === ")") depth--;
      }
      if (depth !== 0) throw new TemplateError(`line ${line}: unclosed (`);
      const inner = pipeline(toks.slice(i + 1, j - 1), line, true);
      firstAdj = false;
      const c = chain(j);
      return { op: { t: "pipe", pipe: inner, names: c.names }, next: c.next };
    }
    default:
      throw new TemplateError(`line ${line}: unexpected "${t.k}" in operand`);
  }
}
