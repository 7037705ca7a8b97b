/**
 * A middleware's options as its tags give them (`PREFIX.http.middlewares.NAME.TYPE.OPTION=value`,
 * option names in any case, as Traefik reads them), read with the tag named in every mistake.
 */
export class OptionError extends Error {}

/** Go's durations (`10s`, `1m30s`, `250ms`) or a bare number of seconds, as Traefik reads them; in milliseconds. */
export function parseDuration(v: string): number | null {
  const t = v.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000;
  const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let ms = 0;
  let rest = t;
  if (rest === "") return null;
  while (rest !== "") {
    const m = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/.exec(rest);
    if (m === null) return null;
    ms += Number(m[1]) * (unit[m[2] as string] as number);
    rest = rest.slice(m[0].length);
  }
  return ms;
}

export class Options {
  private readonly used = new Set<string>();
  /**
   * @param tagBase the tags' common part, `traefik.http.middlewares.NAME.TYPE`
   * @param values option (lower case, `.`-separated) → its key as written and its value (and its
   *   whole tag, where it is not `tagBase.key`: the older frontends' tags)
   */
  constructor(
    readonly tagBase: string,
    private readonly values: ReadonlyMap<string, { key: string; value: string; tag?: string }>,
  ) {}

  /** The tag an option is read from (its own, where it was given under another name). */
  tag(option: string): string {
    const v = this.values.get(option.toLowerCase());
    if (v?.tag !== undefined) return v.tag;
    const key = v?.key ?? option;
    return key === "" ? this.tagBase : `${this.tagBase}.${key}`;
  }

  fail(option: string, what: string): never {
    throw new OptionError(`${this.tag(option)}: ${what}`);
  }

  str(option: string): string | undefined {
    const k = option.toLowerCase();
    const v = this.values.get(k);
    if (v === undefined) return undefined;
    this.used.add(k);
    return v.value;
  }

  bool(option: string, dflt: boolean): boolean {
    const v = this.str(option);
    if (v === undefined) return dflt;
    const l = v.toLowerCase();
    if (l !== "true" && l !== "false") this.fail(option, "must be true or false");
    return l === "true";
  }

  int(option: string, dflt: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.str(option);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (v.trim() === "" || !Number.isInteger(n) || n < min || n > max) this.fail(option, `must be a whole number from ${min}${max === Number.MAX_SAFE_INTEGER ? " up" : ` to ${max}`}`);
    return n;
  }

  num(option: string, dflt: number, min: number): number {
    const v = this.str(option);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n) || n < min) this.fail(option, `must be a number of at least ${min}`);
    return n;
  }

  duration(option: string, dfltMs: number): number {
    const v = this.str(option);
    if (v === undefined) return dfltMs;
    const ms = parseDuration(v);
    if (ms === null) this.fail(option, "must be a duration (10s, 1m, 250ms) or a number of seconds");
    return ms;
  }

  /** A list written `a,b,c` (or with indexes, `option[0]=a`, as some providers flatten them). */
  list(option: string): string[] | undefined {
    const k = option.toLowerCase();
    const direct = this.str(option);
    const indexed = [...this.values.keys()].filter((x) => x.startsWith(`${k}[`) && /\[\d+\]$/.test(x)).sort((a, b) => Number(/\[(\d+)\]$/.exec(a)?.[1]) - Number(/\[(\d+)\]$/.exec(b)?.[1]));
    if (direct === undefined && indexed.length === 0) return undefined;
    const out = direct === undefined ? [] : direct.split(",").map((s) => s.trim()).filter((s) => s !== "");
    for (const x of indexed) {
      this.used.add(x);
      out.push(...(this.values.get(x)?.value ?? "").split(",").map((s) => s.trim()).filter((s) => s !== ""));
    }
    return out;
  }

  /** The options under `option.` (`customrequestheaders.X-Name`): each name as written → value. */
  map(option: string): Map<string, string> {
    const k = `${option.toLowerCase()}.`;
    const out = new Map<string, string>();
    for (const [key, v] of this.values) {
      if (!key.startsWith(k)) continue;
      this.used.add(key);
      out.set(v.key.slice(k.length), v.value);
    }
    return out;
  }

  /** The tags given that no option read took: options the router does not implement. */
  unread(): string[] {
    return [...this.values.keys()].filter((k) => !this.used.has(k)).map((k) => this.tag(k));
  }
}
