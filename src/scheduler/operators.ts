/**
 * The constraint operators on attribute values. Pure string logic: the targets have been
 * resolved against a node already (`undefined` when the node lacks the attribute).
 */
export function checkOperator(operand: string, l: string | undefined, r: string | undefined): boolean {
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
      return l !== undefined && r !== undefined && regexpMatch(l, r);
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

const regexCache = new Map<string, RegExp | null>();

function regexpMatch(l: string, pattern: string): boolean {
  let re = regexCache.get(pattern);
  if (re === undefined) {
    try {
      re = new RegExp(pattern);
    } catch {
      re = null;
    }
    if (regexCache.size > 1000) regexCache.clear();
    regexCache.set(pattern, re);
  }
  return re !== null && re.test(l);
}

function setItems(s: string): string[] {
  return s
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x !== "");
}

interface Version {
  parts: [number, number, number];
  pre: string;
}

/** "1.2.3", "v1.2", "4.19.0-25-amd64" (the suffix is a pre-release for semver, ignored for version). */
export function parseVersion(text: string, strict: boolean): Version | undefined {
  const m = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:[-+~]?(.*))?$/.exec(text.trim());
  if (m === null) return undefined;
  if (strict && (m[2] === undefined || m[3] === undefined)) return undefined;
  return { parts: [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)], pre: strict ? (m[4] ?? "").split("+")[0] ?? "" : "" };
}

function cmp(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) {
    const d = (a.parts[i] ?? 0) - (b.parts[i] ?? 0);
    if (d !== 0) return d;
  }
  if (a.pre === b.pre) return 0;
  if (a.pre === "") return 1;
  if (b.pre === "") return -1;
  return a.pre < b.pre ? -1 : 1;
}

/** A constraint list as go-version writes it: ">= 1.2, < 2.0", "~> 1.2", "1.4.0". */
export function versionMatch(value: string, constraint: string, strict: boolean): boolean {
  const v = parseVersion(value, strict);
  if (v === undefined) return false;
  for (const clause of constraint.split(",")) {
    const m = /^\s*(>=|<=|!=|~>|>|<|=)?\s*(\S+)\s*$/.exec(clause);
    if (m === null) return false;
    const op = m[1] ?? "=";
    const want = parseVersion(m[2] ?? "", strict);
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
        const upper: Version = { parts: [...want.parts], pre: "" };
        if (given <= 2) upper.parts = [want.parts[0] + 1, 0, 0];
        else upper.parts = [want.parts[0], want.parts[1] + 1, 0];
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
