/**
 * Cron expressions as Nomad's `periodic` block reads them (its parser is gorhill/cronexpr):
 * five fields (minute hour day-of-month month day-of-week), six (the same and a year), seven
 * (a second first, then those six), or a descriptor (`@daily` ...). Pure: the time to start
 * from and the IANA time zone are passed in; wall-clock times are read with `Intl`.
 */

export interface CronField {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
}

const SECOND: CronField = { name: "second", min: 0, max: 59 };
const MINUTE: CronField = { name: "minute", min: 0, max: 59 };
const HOUR: CronField = { name: "hour", min: 0, max: 23 };
const DOM: CronField = { name: "day of month", min: 1, max: 31 };
const MONTH: CronField = { name: "month", min: 1, max: 12, names: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"] };
const DOW: CronField = { name: "day of week", min: 0, max: 7, names: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"] };
const YEAR: CronField = { name: "year", min: 1970, max: 2099 };

/** cronexpr's descriptors and the expressions they stand for. */
export const CRON_DESCRIPTORS: Readonly<Record<string, string>> = {
  "@yearly": "0 0 0 1 1 * *",
  "@annually": "0 0 0 1 1 * *",
  "@monthly": "0 0 0 1 * * *",
  "@weekly": "0 0 0 * * 0 *",
  "@daily": "0 0 0 * * * *",
  "@midnight": "0 0 0 * * * *",
  "@hourly": "0 0 * * * * *",
};

/** A day-of-week rule beyond a plain set: `5L` (the last Friday), `5#3` (the third Friday). */
type DowSpecial = { kind: "last"; dow: number } | { kind: "nth"; dow: number; nth: number };

/** A parsed expression: the allowed values of each field. */
export interface Cron {
  seconds: ReadonlySet<number>;
  minutes: ReadonlySet<number>;
  hours: ReadonlySet<number>;
  daysOfMonth: ReadonlySet<number>;
  /** `L` in the day of month: the month's last day. */
  lastDayOfMonth: boolean;
  months: ReadonlySet<number>;
  daysOfWeek: ReadonlySet<number>;
  dowSpecials: readonly DowSpecial[];
  years: ReadonlySet<number>;
  /** Neither `*` nor `?`: with both restricted, a day matching either runs (crontab's rule). */
  domRestricted: boolean;
  dowRestricted: boolean;
}

export type CronParse = { ok: true; cron: Cron } | { ok: false; reason: string };

/** Parses a cron expression or descriptor; a refusal names the field and what is wrong. */
export function parseCron(spec: string): CronParse {
  let text = spec.trim();
  if (text.startsWith("@")) {
    const full = CRON_DESCRIPTORS[text];
    if (full === undefined) return { ok: false, reason: `unknown cron descriptor "${text}"; use one of ${Object.keys(CRON_DESCRIPTORS).join(", ")}` };
    text = full;
  }
  const parts = text.split(/\s+/).filter((p) => p !== "");
  if (parts.length === 5) {
    parts.unshift("0");
    parts.push("*");
  } else if (parts.length === 6) parts.unshift("0");
  else if (parts.length !== 7) {
    return { ok: false, reason: `cron must have 5 fields (minute hour day-of-month month day-of-week), 6 (and a year) or 7 (a second first, then the six), got "${spec}"` };
  }
  const [sec = "", min = "", hour = "", dom = "", month = "", dow = "", year = ""] = parts;
  const out: { -readonly [K in keyof Cron]: Cron[K] } = {
    seconds: new Set(),
    minutes: new Set(),
    hours: new Set(),
    daysOfMonth: new Set(),
    lastDayOfMonth: false,
    months: new Set(),
    daysOfWeek: new Set(),
    dowSpecials: [],
    years: new Set(),
    domRestricted: dom !== "*" && dom !== "?",
    dowRestricted: dow !== "*" && dow !== "?",
  };
  const plain: [string, CronField, Set<number>][] = [
    [sec, SECOND, out.seconds as Set<number>],
    [min, MINUTE, out.minutes as Set<number>],
    [hour, HOUR, out.hours as Set<number>],
    [month, MONTH, out.months as Set<number>],
    [year, YEAR, out.years as Set<number>],
  ];
  for (const [text, field, into] of plain) {
    const bad = fieldValues(text, field, into);
    if (bad !== null) return { ok: false, reason: bad };
  }
  // Day of month: values and ranges, or `L`.
  for (const item of dom.split(",")) {
    if (item === "L") out.lastDayOfMonth = true;
    else if (/W$/.test(item)) return { ok: false, reason: `cron day of month "${dom}": Ruche does not support the W (nearest weekday) form` };
    else {
      const bad = fieldValues(item, DOM, out.daysOfMonth as Set<number>);
      if (bad !== null) return { ok: false, reason: bad.replace(`"${item}"`, `"${dom}"`) };
    }
  }
  // Day of week: values, ranges and names (7 is Sunday too), `nL`, `n#k`.
  const specials: DowSpecial[] = [];
  for (const item of dow.split(",")) {
    const last = /^([0-7]|[A-Za-z]{3})L$/.exec(item);
    const nth = /^([0-7]|[A-Za-z]{3})#([1-5])$/.exec(item);
    if (last !== null || nth !== null) {
      const d = dayOfWeek((last ?? nth)?.[1] ?? "");
      if (d === null) return { ok: false, reason: `cron day of week "${dow}" is out of range 0-7` };
      specials.push(nth === null ? { kind: "last", dow: d } : { kind: "nth", dow: d, nth: Number(nth[2]) });
      continue;
    }
    const bad = fieldValues(item, DOW, out.daysOfWeek as Set<number>);
    if (bad !== null) return { ok: false, reason: bad.replace(`"${item}"`, `"${dow}"`) };
  }
  out.dowSpecials = specials;
  if ((out.daysOfWeek as Set<number>).delete(7)) (out.daysOfWeek as Set<number>).add(0);
  return { ok: true, cron: out };
}

function dayOfWeek(text: string): number | null {
  const named = DOW.names?.indexOf(text.toUpperCase()) ?? -1;
  if (named >= 0) return named;
  const v = Number(text);
  return Number.isInteger(v) && v >= 0 && v <= 7 ? v % 7 : null;
}

/** Adds a field's values (`*`, `?`, `N`, `A-B`, each with an optional `/step`, comma-separated) to `into`. */
function fieldValues(text: string, f: CronField, into: Set<number>): string | null {
  for (const item of text.split(",")) {
    const [range = "", step, extra] = item.split("/");
    if (extra !== undefined || (step !== undefined && !/^[1-9]\d*$/.test(step))) return `cron ${f.name} "${text}": the step must be a positive number`;
    const by = step === undefined ? 1 : Number(step);
    let lo: number;
    let hi: number;
    if (range === "*" || range === "?") {
      lo = f.min;
      hi = f.max;
    } else {
      const bounds = range.split("-");
      if (bounds.length > 2) return `cron ${f.name} "${text}" is not a value or a range`;
      const vals: number[] = [];
      for (const b of bounds) {
        const named = f.names?.indexOf(b.toUpperCase()) ?? -1;
        const v = named >= 0 ? named + (f === MONTH ? 1 : 0) : /^\d+$/.test(b) ? Number(b) : NaN;
        if (Number.isNaN(v) || v < f.min || v > f.max) return `cron ${f.name} "${text}" is out of range ${f.min}-${f.max}`;
        vals.push(v);
      }
      lo = vals[0] ?? f.min;
      // `N/step` runs from N to the field's end, as in cronexpr.
      hi = vals.length === 2 ? (vals[1] ?? lo) : step === undefined ? lo : f.max;
      if (hi < lo) return `cron ${f.name} "${text}": the range ends before it starts`;
    }
    for (let v = lo; v <= hi; v += by) into.add(v);
  }
  return null;
}

/** Wall-clock fields of an instant in a time zone. */
export interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    // Go's time.LoadLocation takes "Local" for the machine's zone.
    const zone = timeZone === "Local" ? Intl.DateTimeFormat().resolvedOptions().timeZone : timeZone;
    f = new Intl.DateTimeFormat("en-US", { timeZone: zone, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", second: "numeric" });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Whether `timeZone` is a time zone name this runtime knows (IANA's database, as Go's `time.LoadLocation`). */
export function timeZoneProblem(timeZone: string): string | null {
  if (timeZone === "") return null;
  try {
    formatter(timeZone);
    return null;
  } catch {
    return `unknown time zone "${timeZone}"; use a name of the IANA database, such as "America/New_York" or "UTC"`;
  }
}

/** The wall clock of instant `ms` in `timeZone`. */
export function wallClock(ms: number, timeZone: string): WallClock {
  const w: WallClock = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  for (const p of formatter(timeZone).formatToParts(new Date(ms))) {
    if (p.type === "year" || p.type === "month" || p.type === "day" || p.type === "hour" || p.type === "minute" || p.type === "second") w[p.type] = Number(p.value);
  }
  return w;
}

const asUtc = (w: WallClock): number => Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);

/** The zone's offset from UTC at instant `ms`, in milliseconds. */
function offsetAt(ms: number, timeZone: string): number {
  const whole = Math.floor(ms / 1000) * 1000;
  return asUtc(wallClock(whole, timeZone)) - whole;
}

/**
 * The instant a wall-clock time stands for in `timeZone`. A time that happens twice (the hour
 * repeated when summer time ends) is the first; one that does not happen (the hour skipped
 * when it starts) is read with the offset before the change, so 02:30 becomes 03:30, as
 * Go's `time.Date` does.
 */
export function wallToInstant(w: WallClock, timeZone: string): number {
  const wall = asUtc(w);
  const before = wall - offsetAt(wall - 12 * 3600_000, timeZone);
  const after = wall - offsetAt(wall + 12 * 3600_000, timeZone);
  const fits = (t: number): boolean => asUtc(wallClock(t, timeZone)) === wall;
  const ok = [before, after].filter(fits);
  return ok.length === 0 ? before : Math.min(...ok);
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function dayMatches(c: Cron, year: number, month: number, day: number): boolean {
  const dow = new Date(Date.UTC(year, month - 1, day)).getUTCDay();
  const last = daysInMonth(year, month);
  const byDom = c.daysOfMonth.has(day) || (c.lastDayOfMonth && day === last);
  const byDow = c.daysOfWeek.has(dow) || c.dowSpecials.some((s) => s.dow === dow && (s.kind === "last" ? day + 7 > last : Math.ceil(day / 7) === s.nth));
  if (c.domRestricted && c.dowRestricted) return byDom || byDow;
  if (c.domRestricted) return byDom;
  if (c.dowRestricted) return byDow;
  return true;
}

/**
 * The first instant after `fromMs` (whole seconds, in ms since the epoch) whose wall clock in
 * `timeZone` the expression matches, or null when none comes (a year past).
 */
export function cronNext(c: Cron, fromMs: number, timeZone = "UTC"): number | null {
  const tz = timeZone === "" ? "UTC" : timeZone;
  const start = Math.floor(fromMs / 1000) * 1000 + 1000;
  const w = wallClock(start, tz);
  const maxYear = Math.max(...c.years, 0);
  // Each turn either returns or moves the wall clock forward to the next candidate of one field.
  for (let guard = 0; guard < 100_000; guard++) {
    if (w.year > maxYear) return null;
    if (!c.years.has(w.year)) {
      Object.assign(w, { year: w.year + 1, month: 1, day: 1, hour: 0, minute: 0, second: 0 });
      continue;
    }
    if (!c.months.has(w.month)) {
      Object.assign(w, w.month === 12 ? { year: w.year + 1, month: 1 } : { month: w.month + 1 }, { day: 1, hour: 0, minute: 0, second: 0 });
      continue;
    }
    if (w.day > daysInMonth(w.year, w.month) || !dayMatches(c, w.year, w.month, w.day)) {
      nextDay(w);
      continue;
    }
    if (!c.hours.has(w.hour)) {
      if (w.hour === 23) nextDay(w);
      else Object.assign(w, { hour: w.hour + 1, minute: 0, second: 0 });
      continue;
    }
    if (!c.minutes.has(w.minute)) {
      if (w.minute === 59) bump(w, "hour");
      else Object.assign(w, { minute: w.minute + 1, second: 0 });
      continue;
    }
    if (!c.seconds.has(w.second)) {
      if (w.second === 59) bump(w, "minute");
      else w.second += 1;
      continue;
    }
    const at = wallToInstant(w, tz);
    if (at > fromMs) return at;
    bump(w, "second");
  }
  return null;
}

function nextDay(w: WallClock): void {
  const d = new Date(Date.UTC(w.year, w.month - 1, w.day + 1));
  Object.assign(w, { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: 0, minute: 0, second: 0 });
}

/** Moves the wall clock to the start of the next unit (`hour`: the next hour, ...), carrying over. */
function bump(w: WallClock, unit: "hour" | "minute" | "second"): void {
  const d = new Date(Date.UTC(w.year, w.month - 1, w.day, w.hour + (unit === "hour" ? 1 : 0), unit === "hour" ? 0 : w.minute + (unit === "minute" ? 1 : 0), unit === "second" ? w.second + 1 : 0));
  Object.assign(w, { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds() });
}
