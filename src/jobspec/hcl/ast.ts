import type { Pos } from "../diagnostic.js";

/** A job file as HCL sees it: blocks and attributes, with expressions left to evaluate. */
export interface Body {
  attributes: Attribute[];
  blocks: Block[];
  /** Position of the opening brace (or of the file). */
  pos: Pos;
}

export interface Attribute {
  name: string;
  expr: Expr;
  pos: Pos;
}

export interface Block {
  type: string;
  labels: { value: string; pos: Pos }[];
  body: Body;
  pos: Pos;
}

export type Traverser = { kind: "getattr"; name: string } | { kind: "index"; key: Expr };

export type TemplatePart = { kind: "text"; text: string } | { kind: "interp"; expr: Expr; source: string };

export type Expr =
  | { kind: "literal"; value: string | number | boolean | null; pos: Pos }
  | { kind: "template"; parts: TemplatePart[]; pos: Pos }
  | { kind: "tuple"; items: Expr[]; pos: Pos }
  | { kind: "object"; items: { key: Expr; value: Expr }[]; pos: Pos }
  | { kind: "variable"; name: string; pos: Pos }
  | { kind: "getattr"; target: Expr; name: string; pos: Pos }
  | { kind: "index"; target: Expr; key: Expr; pos: Pos }
  | { kind: "splat"; target: Expr; each: Traverser[]; pos: Pos }
  | { kind: "call"; name: string; args: Expr[]; expandLast: boolean; pos: Pos }
  | { kind: "unary"; op: "-" | "!"; operand: Expr; pos: Pos }
  | { kind: "binary"; op: string; left: Expr; right: Expr; pos: Pos }
  | { kind: "conditional"; cond: Expr; then: Expr; else: Expr; pos: Pos }
  | {
      kind: "for";
      keyVar: string | null;
      valueVar: string;
      collection: Expr;
      keyExpr: Expr | null;
      valueExpr: Expr;
      grouped: boolean;
      cond: Expr | null;
      pos: Pos;
    };
