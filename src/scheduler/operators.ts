/**
 * The constraint operators on attribute values. Pure string logic: the targets have been
 * resolved against a node already (`undefined` when the node lacks the attribute).
 * `regexp` compiles a `regexp` constraint's pattern (null when it does not compile); the
 * scheduler passes its memo's, which compiles each pattern once.
 */
export function checkOperator(operand: string, l: string | undefined, r: string | undefined, regexp: (pattern: string) => RegExp | null = compileRegexp): boolean {
  switch (operand) {
    case "=":
    case "==":
    case "is":
      return l !== undefined && r !== undefined && l === r;
    case "!=":
    case "not":
      return l !== r;
    case "<":
    case "<=":
    case ">":
    case ">=":
      return l !== undefined && r !== undefined && compareOrder(operand, l, r);
    case "regexp":
      return l !== undefined && r !== undefined && (regexp(r)?.test(l) ?? false);
    case "version":
      return l !== undefined && r !== undefined && versionMatch(l, r, false);
    case "semver":
      return l !== undefined && r !== undefined && versionMatch(l, r, true);
    case "set_contains":
    case "set_contains_all":
      return l !== undefined && r !== undefined && setItems(r).every((x) => setItems(l).includes(x));
    case "set_contains_any":
      return l !== undefined && r !== undefined && setItems(r).some((x) => setItems(l).includes(x));
    case "is_set":
      return l !== undefined;
    case "is_not_set":
      return l === undefined;
    default:
      return false;
  }
}

/** A `regexp` constraint's pattern, compiled; null when it does not compile (it then matches nothing). */
export function compileRegexp(pattern: string): RegExp | null {
  try {
    return new RegExp(pattern);
  } catch {
    return null;
  }
}

function compareOrder(op: string, l: string, r: string): boolean {
  const ln = Number(l);
  const rn = Number(r);
  const numeric = l.trim() !== "" && r.trim() !== "" && Number.isFinite(ln) && Number.isFinite(rn);
  const c = numeric ? ln - rn : l < r ? -1 : l > r ? 1 : 0;
  switch (op) {
    case "<":
      return c < 0;
    case "<=":
      return c <= 0;
    case ">":
      return c > 0;
    default:
      return c >= 0;
  }
}

function setItems(s: string): string[] {
  return s
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x !== "");
}

interface Version {
  /** Numeric segments: three for semver, as many as written for version (1.2.3.4). */
  parts: number[];
  /** Pre-release identifiers ("beta.11" → ["beta", "11"]); empty for a release. */
  pre: string[];
}

/**
 * "1.2.3", "v1.2", "1.2.3.4", "4.19.0-25-amd64", "1.0.0-rc.1+build.5". Build metadata (after
 * "+") never counts. `strict` (semver) wants three segments in a value; a constraint may
 * write fewer, which are zeros.
 */
export function parseVersion(text: string, strict: boolean, inConstraint = false): Version | undefined {
  const m = /^v?(\d+(?:\.\d+)*)(?:[-~]([0-9A-Za-z.-]*))?(?:\+[0-9A-Za-z.-]*)?$/.exec(text.trim());
  if (m === null) return undefined;
  const parts = (m[1] ?? "").split(".").map(Number);
  if (strict && !inConstraint && parts.length !== 3) return undefined;
  if (strict && parts.length > 3) return undefined;
  while (parts.length < 3) parts.push(0);
  // For `version`, what follows the segments is a build suffix, not a pre-release: a kernel
  // 4.19.0-25-amd64 satisfies ">= 4.19" as its users expect. `semver` reads it by its rules.
  const pre = !strict || m[2] === undefined || m[2] === "" ? [] : m[2].split(".");
  return { parts, pre };
}

function cmpIdent(a: string, b: string): number {
  const an = /^\d+$/.test(a);
  const bn = /^\d+$/.test(b);
  if (an && bn) return Number(a) - Number(b);
  if (an) return -1;
  if (bn) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function cmp(a: Version, b: Version): number {
  const n = Math.max(a.parts.length, b.parts.length);
  for (let i = 0; i < n; i++) {
    const d = (a.parts[i] ?? 0) - (b.parts[i] ?? 0);
    if (d !== 0) return d;
  }
  if (a.pre.length === 0 && b.pre.length === 0) return 0;
  if (a.pre.length === 0) return 1;
  if (b.pre.length === 0) return -1;
  for (let i = 0; i < Math.max(a.pre.length, b.pre.length); i++) {
    const x = a.pre[i];
    const y = b.pre[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const c = cmpIdent(x, y);
    if (c !== 0) return c;
  }
  return 0;
}

/** A constraint list as go-version writes it: ">= 1.2, < 2.0", "~> 1.2", "1.4.0". */
export function versionMatch(value: string, constraint: string, strict: boolean): boolean {
  const v = parseVersion(value, strict);
  if (v === undefined) return false;
  for (const clause of constraint.split(",")) {
    const m = /^\s*(>=|<=|!=|~>|>|<|=)?\s*(\S+)\s*$/.exec(clause);
    if (m === null) return false;
    const op = m[1] ?? "=";
    const want = parseVersion(m[2] ?? "", strict, true);
    if (want === undefined) return false;
    const c = cmp(v, want);
    let ok: boolean;
    switch (op) {
      case ">=":
        ok = c >= 0;
        break;
      case "<=":
        ok = c <= 0;
        break;
      case ">":
        ok = c > 0;
        break;
      case "<":
        ok = c < 0;
        break;
      case "!=":
        ok = c !== 0;
        break;
      case "~>": {
        // ~> 1.2 allows >= 1.2, < 2.0; ~> 1.2.3 allows >= 1.2.3, < 1.3.0
        const given = (m[2] ?? "").replace(/^v/, "").split(/[-+]/)[0]?.split(".").length ?? 1;
        const [major = 0, minor = 0] = want.parts;
        const upper: Version = { parts: given <= 2 ? [major + 1, 0, 0] : [major, minor + 1, 0], pre: [] };
        ok = c >= 0 && cmp(v, upper) < 0;
        break;
      }
      default:
        ok = c === 0;
    }
    if (!ok) return false;
  }
  return true;
}
