import { createRequire } from "node:module";
import { Language, Parser, type Node as SyntaxNode } from "web-tree-sitter";
import type { Diagnostic, Pos } from "../diagnostic.js";
import { LIMITS } from "../../structs/index.js";
import type { Attribute, Block, Body, Expr, TemplatePart, Traverser } from "./ast.js";

/**
 * HCL source → `Body`. The grammar is tree-sitter's HCL grammar, run as WebAssembly;
 * this file only walks its syntax tree into our small AST and reports syntax errors
 * with line and column.
 */

let parserPromise: Promise<Parser> | undefined;

async function loadParser(): Promise<Parser> {
  const require = createRequire(import.meta.url);
  await Parser.init();
  const language = await Language.load(require.resolve("@tree-sitter-grammars/tree-sitter-hcl/tree-sitter-hcl.wasm"));
  const parser = new Parser();
  parser.setLanguage(language);
  return parser;
}

function parser(): Promise<Parser> {
  parserPromise ??= loadParser();
  return parserPromise;
}

export type ParseResult = { ok: true; body: Body } | { ok: false; diagnostics: Diagnostic[] };

const BINARY_OPS = new Set(["*", "/", "%", "+", "-", ">", ">=", "<", "<=", "==", "!=", "&&", "||"]);

class SyntaxError_ extends Error {
  constructor(
    readonly pos: Pos,
    message: string,
  ) {
    super(message);
  }
}

/**
 * How strictly lines are read. HCL 2 (job files and their variable files, as Nomad's jobspec2
 * reads them) ends each argument and block with a newline and opens a block on its header's
 * line; HCL 1 (agent configs, ACL policies, volume specs, Consul's service files) does not ask
 * for either, so `path "a" { ... } path "b" { ... }` on one line stays a valid policy.
 */
export interface HclSyntax {
  newlines?: boolean;
}

export async function parseHcl(original: string, file: string, syntax: HclSyntax = {}): Promise<ParseResult> {
  return parseWith(await parser(), original, file, syntax);
}

/** The HCL parser, once its grammar is loaded: parses synchronously (what reads ACL policies at each request needs). */
export async function hclParser(): Promise<(source: string, file: string) => ParseResult> {
  const p = await parser();
  return (source, file) => parseWith(p, source, file);
}

function parseWith(p: Parser, original: string, file: string, hcl: HclSyntax = {}): ParseResult {
  let source = original;
  let tree = p.parse(source);
  if (tree === null) return { ok: false, diagnostics: [{ file, path: "", message: "the HCL parser gave no result" }] };
  // The grammar reads an exponent only after a fraction ("1.0e6"); HCL also allows "1e6".
  // Such numbers get ".0" inserted and the file is read again; positions are mapped back.
  const inserted = exponentsWithoutFraction(tree.rootNode, source);
  if (inserted.length > 0) {
    tree.delete();
    for (const at of [...inserted].reverse()) source = `${source.slice(0, at)}.0${source.slice(at)}`;
    tree = p.parse(source);
    if (tree === null) return { ok: false, diagnostics: [{ file, path: "", message: "the HCL parser gave no result" }] };
  }
  try {
    const lines = lineStarts(original);
    const posOf = (index: number): Pos => {
      let shift = 0;
      for (const at of inserted) if (at + shift * 2 < index) shift++;
      const i = index - shift * 2;
      let lo = 0;
      let hi = lines.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if ((lines[mid] ?? 0) <= i) lo = mid;
        else hi = mid - 1;
      }
      const start = lines[lo] ?? 0;
      let col = 1;
      for (let k = start; k < i; k++) {
        const c = original.charCodeAt(k);
        if (c < 0xdc00 || c > 0xdfff) col++;
      }
      return { line: lo + 1, col };
    };
    const root = tree.rootNode;
    const tooDeep = findTooDeep(root);
    if (tooDeep !== null) {
      return {
        ok: false,
        diagnostics: [
          {
            file,
            pos: posOf(tooDeep.startIndex),
            path: "",
            message: `nesting is deeper than ${LIMITS.maxDepth} levels; a job file never needs that many`,
          },
        ],
      };
    }
    const syntax = syntaxErrors(root, posOf, source);
    if (syntax.length > 0) return { ok: false, diagnostics: syntax.map((e) => ({ file, pos: e.pos, path: "", message: e.message })) };
    const walker = new Walker(source, posOf, hcl.newlines === true);
    try {
      return { ok: true, body: walker.file(root) };
    } catch (err) {
      if (err instanceof SyntaxError_) return { ok: false, diagnostics: [{ file, pos: err.pos, path: "", message: err.message }] };
      throw err;
    }
  } finally {
    tree.delete();
  }
}

/** Offsets just after the digits of numbers written with an exponent but no fraction ("1e6"). */
function exponentsWithoutFraction(root: SyntaxNode, source: string): number[] {
  if (!/\d[eE]/.test(source)) return [];
  const out: number[] = [];
  const cursor = root.walk();
  try {
    for (;;) {
      if (cursor.nodeType === "numeric_lit") {
        const end = cursor.endIndex;
        const text = source.slice(cursor.startIndex, end);
        if (/^\d+$/.test(text) && /^[eE][-+]?\d/.test(source.slice(end, end + 3))) out.push(end);
      }
      if (cursor.gotoFirstChild()) continue;
      while (!cursor.gotoNextSibling()) {
        if (!cursor.gotoParent()) return out;
      }
    }
  } finally {
    cursor.delete();
  }
}

function lineStarts(source: string): number[] {
  const starts = [0];
  for (let i = source.indexOf("\n"); i >= 0; i = source.indexOf("\n", i + 1)) starts.push(i + 1);
  return starts;
}

/**
 * Every block, expression (a value inside a list, an argument, a parenthesis) and operation
 * opens a level; find the first past the limit, walking without recursion.
 */
function findTooDeep(root: SyntaxNode): SyntaxNode | null {
  const cursor = root.walk();
  const nesting = new Set(["block", "expression", "operation"]);
  const stack: number[] = [0];
  try {
    for (;;) {
      const depth = stack[stack.length - 1] ?? 0;
      const here = nesting.has(cursor.nodeType) ? depth + 1 : depth;
      if (here > LIMITS.maxDepth) return cursor.currentNode;
      if (cursor.gotoFirstChild()) {
        stack.push(here);
        continue;
      }
      while (!cursor.gotoNextSibling()) {
        if (!cursor.gotoParent()) return null;
        stack.pop();
      }
    }
  } finally {
    cursor.delete();
  }
}

/**
 * The first syntax error, said as plainly as we can. Only the first: what a parser reports
 * after one is mostly the echo of it.
 */
function syntaxErrors(root: SyntaxNode, posOf: (i: number) => Pos, source: string): SyntaxError_[] {
  if (!root.hasError) return [];
  const unterminated = unterminatedString(root, source);
  if (unterminated !== null) return [new SyntaxError_(posOf(unterminated), "syntax error: unterminated string; a quoted string ends on the line it starts")];
  const key = quotedAttributeName(root, source);
  if (key !== null) {
    return [new SyntaxError_(posOf(key.index), `syntax error: an attribute name is a bare identifier, not a quoted string; for other keys use a map, as in env = { ${key.text} = ... }`)];
  }
  const out: SyntaxError_[] = [];
  const visit = (n: SyntaxNode): void => {
    if (out.length >= 1) return;
    if (n.isMissing) {
      const owner = n.parent;
      if (n.type === "block_end" && owner?.type === "block") {
        out.push(new SyntaxError_(posOf(owner.startIndex), `syntax error: the ${owner.namedChildren[0]?.text ?? ""} block opened here is never closed (missing "}")`));
      } else if (n.type === "heredoc_identifier" && owner?.type === "heredoc_template") {
        out.push(new SyntaxError_(posOf(owner.startIndex), `syntax error: the heredoc opened here never ends; close it with its marker alone on a line`));
      } else {
        out.push(new SyntaxError_(posOf(n.startIndex), `syntax error: missing ${describeToken(n.type)}`));
      }
      return;
    }
    if (n.isError) {
      const text = source.slice(n.startIndex, Math.min(n.endIndex, n.startIndex + 30)).split("\n")[0] ?? "";
      out.push(new SyntaxError_(posOf(n.startIndex), `syntax error: unexpected ${text.trim() === "" ? "end of input" : JSON.stringify(text.trim())}`));
      return;
    }
    if (!n.hasError) return;
    for (const c of n.children) visit(c);
  };
  visit(root);
  if (out.length === 0) out.push(new SyntaxError_(posOf(0), "syntax error"));
  return out;
}

/** `"A=B" = "x"` in a block: a quoted name where HCL wants an identifier. */
function quotedAttributeName(root: SyntaxNode, source: string): { index: number; text: string } | null {
  for (const err of root.descendantsOfType("ERROR")) {
    for (const c of err.children) {
      if (c.type === "string_lit" && /^\s*=(?!=)/.test(source.slice(c.endIndex, c.endIndex + 20))) return { index: c.startIndex, text: c.text };
    }
  }
  return null;
}

/** A quoted string that runs past the end of its line, where HCL strings cannot go. */
function unterminatedString(root: SyntaxNode, source: string): number | null {
  const cursor = root.walk();
  try {
    for (;;) {
      const t = cursor.nodeType;
      if ((t === "quoted_template" || t === "string_lit") && source.slice(cursor.startIndex, cursor.endIndex).includes("\n")) {
        const node = cursor.currentNode;
        const literalNewline = node.children.some((c) => c.type === "template_literal" && c.text.includes("\n"));
        const endMissing = node.children.some((c) => c.type === "quoted_template_end" && c.isMissing);
        if (literalNewline || endMissing) return cursor.startIndex;
      }
      if (t === "quoted_template_start" && cursor.currentNode.parent?.type === "ERROR") {
        const rest = source.slice(cursor.endIndex, source.indexOf("\n", cursor.endIndex) >>> 0);
        if (!rest.includes('"')) return cursor.startIndex;
      }
      if (cursor.gotoFirstChild()) continue;
      while (!cursor.gotoNextSibling()) {
        if (!cursor.gotoParent()) return null;
      }
    }
  } finally {
    cursor.delete();
  }
}

function describeToken(type: string): string {
  switch (type) {
    case "block_end":
    case "object_end":
      return '"}"';
    case "tuple_end":
      return '"]"';
    case "quoted_template_end":
      return "closing quote";
    case "template_interpolation_end":
      return '"}" closing the interpolation';
    default:
      return /^[a-z_]+$/.test(type) ? type.replace(/_/g, " ") : JSON.stringify(type);
  }
}

class Walker {
  constructor(
    private readonly source: string,
    private readonly posOf: (i: number) => Pos,
    private readonly newlines: boolean,
  ) {}

  private pos(n: SyntaxNode): Pos {
    return this.posOf(n.startIndex);
  }

  private fail(n: SyntaxNode, message: string): never {
    throw new SyntaxError_(this.pos(n), message);
  }

  file(root: SyntaxNode): Body {
    const body = root.namedChildren.find((c) => c.type === "body");
    if (root.namedChildren.some((c) => c.type === "object")) {
      this.fail(root, "a job file in HCL holds blocks and attributes, not a bare object; for the JSON form use a .json file");
    }
    return body === undefined ? { attributes: [], blocks: [], pos: { line: 1, col: 1 } } : this.body(body, root);
  }

  body(n: SyntaxNode | undefined, owner: SyntaxNode): Body {
    const out: Body = { attributes: [], blocks: [], pos: this.pos(owner) };
    if (n === undefined) return out;
    let prev: SyntaxNode | undefined;
    for (const c of n.namedChildren) {
      if (c.type !== "attribute" && c.type !== "block") continue;
      // HCL ends each argument and block with a newline; the grammar does not ask for one.
      if (this.newlines && prev !== undefined && prev.endPosition.row === c.startPosition.row) {
        this.fail(
          c,
          prev.type === "attribute"
            ? `syntax error: missing newline after argument "${prev.namedChildren[0]?.text ?? ""}": an argument definition must end with a newline`
            : `syntax error: missing newline after the ${prev.namedChildren[0]?.text ?? ""} block: a block definition must end with a newline`,
        );
      }
      prev = c;
      if (c.type === "attribute") out.attributes.push(this.attribute(c));
      else out.blocks.push(this.block(c));
    }
    return out;
  }

  attribute(n: SyntaxNode): Attribute {
    const name = n.namedChildren[0];
    const expr = n.namedChildren.find((c) => c.type === "expression");
    if (name === undefined || expr === undefined) this.fail(n, "syntax error: incomplete attribute");
    return { name: name.text, expr: this.expression(expr), pos: this.pos(n) };
  }

  block(n: SyntaxNode): Block {
    const kids = n.namedChildren;
    const type = kids[0];
    if (type === undefined) this.fail(n, "syntax error: block without a type");
    const labels: Block["labels"] = [];
    let body: SyntaxNode | undefined;
    let open: SyntaxNode = n;
    for (const c of kids.slice(1)) {
      if (c.type === "string_lit") labels.push({ value: this.stringLit(c), pos: this.pos(c) });
      else if (c.type === "identifier") labels.push({ value: c.text, pos: this.pos(c) });
      else if (c.type === "block_start") open = c;
      else if (c.type === "body") body = c;
    }
    if (this.newlines && open !== n && open.startPosition.row !== type.startPosition.row) {
      this.fail(open, `syntax error: the ${type.text} block's "{" must be on the line of its header, as in ${type.text} ${labels.map((l) => JSON.stringify(l.value)).join(" ")}${labels.length > 0 ? " " : ""}{`);
    }
    return { type: type.text, labels, body: this.body(body, open), pos: this.pos(n) };
  }

  expression(n: SyntaxNode): Expr {
    const kids = n.children.filter((c) => c.type !== "comment");
    return this.sequence(kids, n);
  }

  /** A run of sibling nodes forming one term: a base, then any index/attribute/splat after it. */
  private sequence(kids: SyntaxNode[], owner: SyntaxNode): Expr {
    const first = kids[0];
    if (first === undefined) this.fail(owner, "syntax error: empty expression");
    let expr: Expr;
    let i = 1;
    if (first.type === "(") {
      const inner = kids[1];
      if (inner === undefined) this.fail(first, "syntax error: empty parentheses");
      expr = this.expression(inner);
      i = 3;
    } else {
      expr = this.term(first);
    }
    for (; i < kids.length; i++) {
      const k = kids[i];
      if (k === undefined) break;
      expr = this.postfix(expr, k);
    }
    return expr;
  }

  private postfix(target: Expr, k: SyntaxNode): Expr {
    switch (k.type) {
      case "get_attr":
        return { kind: "getattr", target, name: k.namedChildren[0]?.text ?? "", pos: this.pos(k) };
      case "index":
        return { kind: "index", target, key: this.indexKey(k), pos: this.pos(k) };
      case "splat": {
        const inner = k.namedChildren[0];
        const each: Traverser[] = [];
        for (const t of inner?.namedChildren ?? []) {
          if (t.type === "get_attr") each.push({ kind: "getattr", name: t.namedChildren[0]?.text ?? "" });
          else if (t.type === "index") each.push({ kind: "index", key: this.indexKey(t) });
        }
        return { kind: "splat", target, each, pos: this.pos(k) };
      }
      default:
        return this.fail(k, `syntax error: unexpected ${JSON.stringify(k.text.slice(0, 30))}`);
    }
  }

  private indexKey(k: SyntaxNode): Expr {
    const inner = k.namedChildren[0];
    if (inner === undefined) this.fail(k, "syntax error: empty index");
    if (inner.type === "legacy_index") {
      return { kind: "literal", value: Number(inner.text.slice(1)), pos: this.pos(inner) };
    }
    const e = inner.namedChildren.find((c) => c.type === "expression");
    if (e === undefined) this.fail(k, "syntax error: empty index");
    return this.expression(e);
  }

  private term(n: SyntaxNode): Expr {
    const pos = this.pos(n);
    switch (n.type) {
      case "expression":
        return this.expression(n);
      case "literal_value":
        return this.literal(n);
      case "template_expr": {
        const t = n.namedChildren[0];
        if (t === undefined) this.fail(n, "syntax error: empty template");
        return t.type === "heredoc_template" ? this.heredoc(t) : this.quoted(t);
      }
      case "collection_value": {
        const c = n.namedChildren[0];
        if (c === undefined) this.fail(n, "syntax error: empty collection");
        return this.term(c);
      }
      case "tuple":
        return { kind: "tuple", items: n.namedChildren.filter((c) => c.type === "expression").map((c) => this.expression(c)), pos };
      case "object":
        return {
          kind: "object",
          items: n.namedChildren
            .filter((c) => c.type === "object_elem")
            .map((c) => {
              const [k, v] = c.namedChildren.filter((x) => x.type === "expression");
              if (k === undefined || v === undefined) this.fail(c, "syntax error: incomplete object element");
              return { key: this.objectKey(k), value: this.expression(v) };
            }),
          pos,
        };
      case "variable_expr":
        return { kind: "variable", name: n.text, pos };
      case "function_call": {
        const name = n.namedChildren[0]?.text ?? "";
        const argsNode = n.namedChildren.find((c) => c.type === "function_arguments");
        const args = (argsNode?.namedChildren ?? []).filter((c) => c.type === "expression").map((c) => this.expression(c));
        const expandLast = argsNode?.namedChildren.some((c) => c.type === "ellipsis") ?? false;
        return { kind: "call", name, args, expandLast, pos };
      }
      case "for_expr":
        return this.forExpr(n);
      case "operation": {
        const op = n.namedChildren[0];
        if (op === undefined) this.fail(n, "syntax error: empty operation");
        return this.operation(op);
      }
      case "conditional": {
        const parts = n.namedChildren.filter((c) => c.type === "expression");
        const [c, t, e] = parts;
        if (c === undefined || t === undefined || e === undefined) this.fail(n, "syntax error: incomplete conditional");
        return { kind: "conditional", cond: this.expression(c), then: this.expression(t), else: this.expression(e), pos };
      }
      default:
        return this.fail(n, `syntax error: unexpected ${JSON.stringify(n.text.slice(0, 30))}`);
    }
  }

  /** An object key that is a bare name means the name itself, as in HCL. */
  private objectKey(k: SyntaxNode): Expr {
    const only = k.namedChildren.length === 1 ? k.namedChildren[0] : undefined;
    if (only?.type === "variable_expr") return { kind: "literal", value: only.text, pos: this.pos(only) };
    return this.expression(k);
  }

  private operation(n: SyntaxNode): Expr {
    const pos = this.pos(n);
    const kids = n.children.filter((c) => c.type !== "comment");
    if (n.type === "unary_operation") {
      const [op, ...rest] = kids;
      const operand = this.sequence(rest, n);
      return { kind: "unary", op: op?.type === "!" ? "!" : "-", operand, pos };
    }
    let depth = 0;
    let at = -1;
    kids.forEach((c, i) => {
      if (c.type === "(") depth++;
      else if (c.type === ")") depth--;
      else if (depth === 0 && at < 0 && i > 0 && !c.isNamed && BINARY_OPS.has(c.type)) at = i;
    });
    const opNode = kids[at];
    if (opNode === undefined) this.fail(n, "syntax error: operator expected");
    return { kind: "binary", op: opNode.type, left: this.sequence(kids.slice(0, at), n), right: this.sequence(kids.slice(at + 1), n), pos };
  }

  private forExpr(n: SyntaxNode): Expr {
    const inner = n.namedChildren[0];
    if (inner === undefined) this.fail(n, "syntax error: empty for expression");
    const intro = inner.namedChildren.find((c) => c.type === "for_intro");
    if (intro === undefined) this.fail(n, "syntax error: for expression without `for`");
    const names = intro.namedChildren.filter((c) => c.type === "identifier").map((c) => c.text);
    const collection = intro.namedChildren.find((c) => c.type === "expression");
    if (collection === undefined || names.length === 0) this.fail(intro, "syntax error: incomplete for expression");
    const exprs = inner.namedChildren.filter((c) => c.type === "expression");
    const condNode = inner.namedChildren.find((c) => c.type === "for_cond")?.namedChildren.find((c) => c.type === "expression");
    const isObject = inner.type === "for_object_expr";
    const keyExpr = isObject ? exprs[0] : undefined;
    const valueExpr = isObject ? exprs[1] : exprs[0];
    if (valueExpr === undefined) this.fail(inner, "syntax error: for expression without a result");
    return {
      kind: "for",
      keyVar: names.length > 1 ? (names[0] ?? null) : null,
      valueVar: names[names.length - 1] ?? "",
      collection: this.expression(collection),
      keyExpr: keyExpr === undefined ? null : this.expression(keyExpr),
      valueExpr: this.expression(valueExpr),
      grouped: inner.namedChildren.some((c) => c.type === "ellipsis"),
      cond: condNode === undefined ? null : this.expression(condNode),
      pos: this.pos(n),
    };
  }

  private literal(n: SyntaxNode): Expr {
    const pos = this.pos(n);
    const v = n.namedChildren[0];
    if (v === undefined) this.fail(n, "syntax error: empty literal");
    switch (v.type) {
      case "numeric_lit": {
        if (/^0x/i.test(v.text)) this.fail(v, `HCL has no hexadecimal numbers; write ${JSON.stringify(v.text)} in decimal`);
        const num = Number(v.text);
        if (!Number.isFinite(num)) this.fail(v, `invalid number ${JSON.stringify(v.text)}`);
        return { kind: "literal", value: num, pos };
      }
      case "bool_lit":
        return { kind: "literal", value: v.text === "true", pos };
      case "null_lit":
        return { kind: "literal", value: null, pos };
      case "string_lit":
        return { kind: "literal", value: this.stringLit(v), pos };
      default:
        return this.fail(v, `syntax error: unexpected ${JSON.stringify(v.text.slice(0, 30))}`);
    }
  }

  /** A quoted string without interpolation: its escapes resolved. */
  private stringLit(n: SyntaxNode): string {
    const start = n.children[0];
    const end = n.children[n.children.length - 1];
    if (start === undefined || end === undefined) return "";
    return this.unescape(this.source.slice(start.endIndex, end.startIndex), n);
  }

  private quoted(n: SyntaxNode): Expr {
    const start = n.children[0];
    const end = n.children[n.children.length - 1];
    if (start === undefined || end === undefined) this.fail(n, "syntax error: broken string");
    return { kind: "template", parts: this.templateParts(n, start.endIndex, end.startIndex, true), pos: this.pos(n) };
  }

  private heredoc(n: SyntaxNode): Expr {
    const ids = n.namedChildren.filter((c) => c.type === "heredoc_identifier");
    const open = ids[0];
    const close = ids[ids.length - 1];
    if (open === undefined || close === undefined || open === close) this.fail(n, "syntax error: heredoc without its closing marker");
    const nl = this.source.indexOf("\n", open.endIndex);
    const from = nl < 0 ? open.endIndex : nl + 1;
    const to = this.source.lastIndexOf("\n", close.startIndex) + 1;
    const parts = this.templateParts(n, from, Math.max(from, to), false);
    const indented = n.namedChildren[0]?.text === "<<-";
    return { kind: "template", parts: indented ? dedent(parts) : parts, pos: this.pos(n) };
  }

  private templateParts(n: SyntaxNode, from: number, to: number, quoted: boolean): TemplatePart[] {
    const parts: TemplatePart[] = [];
    let at = from;
    const text = (upto: number): void => {
      if (upto > at) {
        const raw = this.source.slice(at, upto);
        parts.push({ kind: "text", text: quoted ? this.unescape(raw, n) : unescapeTemplateMarkers(raw) });
      }
    };
    for (const c of n.namedChildren) {
      if (c.type === "template_directive") {
        this.fail(c, "template directives (%{ if }, %{ for }) are not supported in job files; use a conditional or a for expression");
      }
      if (c.type !== "template_interpolation") continue;
      if (c.startIndex < from || c.endIndex > to) continue;
      text(c.startIndex);
      const e = c.namedChildren.find((x) => x.type === "expression");
      if (e === undefined) this.fail(c, "syntax error: empty interpolation ${}");
      if (c.namedChildren.some((x) => x.type === "strip_marker")) this.fail(c, "strip markers (~) in interpolations are not supported");
      parts.push({ kind: "interp", expr: this.expression(e), source: this.source.slice(c.startIndex, c.endIndex) });
      at = c.endIndex;
    }
    text(to);
    return parts;
  }

  private unescape(raw: string, n: SyntaxNode): string {
    let out = "";
    for (let i = 0; i < raw.length; i++) {
      const ch = raw[i];
      if (ch === "\\") {
        const next = raw[i + 1];
        i++;
        switch (next) {
          case "n":
            out += "\n";
            break;
          case "t":
            out += "\t";
            break;
          case "r":
            out += "\r";
            break;
          case '"':
            out += '"';
            break;
          case "\\":
            out += "\\";
            break;
          case "u":
          case "U": {
            const len = next === "u" ? 4 : 8;
            const hex = raw.slice(i + 1, i + 1 + len);
            const code = /^[0-9a-fA-F]+$/.test(hex) && hex.length === len ? Number.parseInt(hex, 16) : NaN;
            if (Number.isNaN(code) || code > 0x10ffff) this.fail(n, `invalid escape \\${next}${hex} in string`);
            out += String.fromCodePoint(code);
            i += len;
            break;
          }
          default:
            this.fail(n, `invalid escape \\${next ?? ""} in string`);
        }
      } else if ((ch === "$" || ch === "%") && raw[i + 1] === ch && raw[i + 2] === "{") {
        out += `${ch}{`;
        i += 2;
      } else {
        out += ch ?? "";
      }
    }
    return out;
  }
}

function unescapeTemplateMarkers(raw: string): string {
  return raw.replace(/\$\$\{/g, "${").replace(/%%\{/g, "%{");
}

/** `<<-` heredocs lose the indentation their lines share. */
function dedent(parts: TemplatePart[]): TemplatePart[] {
  const lines = parts
    .filter((p): p is { kind: "text"; text: string } => p.kind === "text")
    .flatMap((p, idx) => p.text.split("\n").map((l, j) => ({ l, first: idx === 0 || j > 0 })));
  let min = Infinity;
  for (const { l, first } of lines) {
    if (!first || l.trim() === "") continue;
    min = Math.min(min, l.length - l.trimStart().length);
  }
  if (!Number.isFinite(min) || min === 0) return parts;
  let lineStart = true;
  return parts.map((p) => {
    if (p.kind !== "text") {
      lineStart = false;
      return p;
    }
    const out = p.text
      .split("\n")
      .map((l, j) => ((j > 0 || lineStart) && l.length >= min ? l.slice(min) : j > 0 || lineStart ? l.trimStart() : l))
      .join("\n");
    lineStart = p.text.endsWith("\n");
    return { kind: "text", text: out };
  });
}
