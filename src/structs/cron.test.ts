import { describe, expect, it } from "vitest";
import { cronNext, parseCron, timeZoneProblem, wallToInstant } from "./cron.js";
import { periodicChild, periodicChildId, periodicLaunchOf, periodicNext, periodicProblems } from "./periodic.js";
import type { PeriodicConfig } from "./job.js";
import { job as mockJob } from "./mock.js";

const at = (iso: string): number => Date.parse(iso);
const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function next(spec: string, from: string, tz = "UTC"): string | null {
  const p = parseCron(spec);
  if (!p.ok) throw new Error(p.reason);
  return iso(cronNext(p.cron, at(from), tz));
}

/** The next `n` launches after `from`. */
function nextN(spec: string, from: string, n: number, tz = "UTC"): string[] {
  const p = parseCron(spec);
  if (!p.ok) throw new Error(p.reason);
  const out: string[] = [];
  let t = at(from);
  for (let i = 0; i < n; i++) {
    const v = cronNext(p.cron, t, tz);
    if (v === null) break;
    out.push(new Date(v).toISOString());
    t = v;
  }
  return out;
}

describe("cron expressions as Nomad reads them (gorhill/cronexpr)", () => {
  it("five fields: minute hour day-of-month month day-of-week, at second 0", () => {
    expect(next("*/15 * * * *", "2026-03-01T10:07:30Z")).toBe("2026-03-01T10:15:00.000Z");
    expect(next("30 2 * * MON-FRI", "2026-03-06T03:00:00Z")).toBe("2026-03-09T02:30:00.000Z"); // Friday after 02:30 → Monday
    expect(next("0 0 1 JAN *", "2026-03-01T00:00:00Z")).toBe("2027-01-01T00:00:00.000Z");
  });

  it("six fields end with a year; seven begin with a second", () => {
    expect(next("0 12 * * * 2028", "2026-03-01T00:00:00Z")).toBe("2028-01-01T12:00:00.000Z");
    expect(nextN("*/2 * * * * * *", "2026-03-01T00:00:00.500Z", 3)).toEqual(["2026-03-01T00:00:02.000Z", "2026-03-01T00:00:04.000Z", "2026-03-01T00:00:06.000Z"]);
    expect(next("5 0 0 1 1 * 2030", "2026-03-01T00:00:00Z")).toBe("2030-01-01T00:00:05.000Z");
    expect(next("0 0 12 * * * 2020", "2026-03-01T00:00:00Z")).toBeNull();
  });

  it("descriptors", () => {
    const from = "2026-03-04T10:20:30Z"; // a Wednesday
    expect(next("@hourly", from)).toBe("2026-03-04T11:00:00.000Z");
    expect(next("@daily", from)).toBe("2026-03-05T00:00:00.000Z");
    expect(next("@midnight", from)).toBe("2026-03-05T00:00:00.000Z");
    expect(next("@weekly", from)).toBe("2026-03-08T00:00:00.000Z");
    expect(next("@monthly", from)).toBe("2026-04-01T00:00:00.000Z");
    expect(next("@yearly", from)).toBe("2027-01-01T00:00:00.000Z");
    expect(next("@annually", from)).toBe("2027-01-01T00:00:00.000Z");
  });

  it("day of month and day of week: either matches when both are restricted; L and # forms", () => {
    expect(nextN("0 9 13 * FRI", "2026-02-01T00:00:00Z", 3)).toEqual(["2026-02-06T09:00:00.000Z", "2026-02-13T09:00:00.000Z", "2026-02-20T09:00:00.000Z"]);
    expect(nextN("0 0 L * *", "2026-01-15T00:00:00Z", 2)).toEqual(["2026-01-31T00:00:00.000Z", "2026-02-28T00:00:00.000Z"]);
    expect(next("0 0 * * 5L", "2026-01-01T00:00:00Z")).toBe("2026-01-30T00:00:00.000Z");
    expect(next("0 0 * * 1#2", "2026-01-01T00:00:00Z")).toBe("2026-01-12T00:00:00.000Z");
    expect(next("0 0 * * 7", "2026-01-01T00:00:00Z")).toBe("2026-01-04T00:00:00.000Z"); // 7 is Sunday too
    expect(next("0 0 29 2 *", "2026-01-01T00:00:00Z")).toBe("2028-02-29T00:00:00.000Z");
  });

  it("refuses what cronexpr refuses, naming the field", () => {
    const why = (s: string): string => {
      const p = parseCron(s);
      return p.ok ? "ok" : p.reason;
    };
    expect(why("* * * *")).toMatch(/^cron must have 5 fields/);
    expect(why("60 * * * *")).toBe('cron minute "60" is out of range 0-59');
    expect(why("* 24 * * *")).toBe('cron hour "24" is out of range 0-23');
    expect(why("* * * 13 *")).toBe('cron month "13" is out of range 1-12');
    expect(why("*/0 * * * *")).toBe('cron minute "*/0": the step must be a positive number');
    expect(why("@every 5m")).toMatch(/^unknown cron descriptor/);
    expect(why("* * 15W * *")).toMatch(/W \(nearest weekday\)/);
  });
});

describe("time zones", () => {
  it("reads the expression on the zone's wall clock", () => {
    expect(next("0 9 * * *", "2026-01-10T00:00:00Z", "America/New_York")).toBe("2026-01-10T14:00:00.000Z");
    expect(next("0 9 * * *", "2026-07-10T00:00:00Z", "America/New_York")).toBe("2026-07-10T13:00:00.000Z");
    expect(next("0 9 * * *", "2026-01-10T00:00:00Z", "Asia/Kolkata")).toBe("2026-01-10T03:30:00.000Z");
  });

  it("across summer time: a skipped 02:30 runs at 03:30, a repeated 01:30 runs once, an hourly job stays hourly", () => {
    // America/New_York: 2026-03-08 02:00 EST → 03:00 EDT; 2026-11-01 02:00 EDT → 01:00 EST.
    expect(nextN("30 2 * * *", "2026-03-07T12:00:00Z", 3, "America/New_York")).toEqual(["2026-03-08T07:30:00.000Z", "2026-03-09T06:30:00.000Z", "2026-03-10T06:30:00.000Z"]);
    expect(nextN("30 1 * * *", "2026-10-31T12:00:00Z", 3, "America/New_York")).toEqual(["2026-11-01T05:30:00.000Z", "2026-11-02T06:30:00.000Z", "2026-11-03T06:30:00.000Z"]);
    expect(nextN("0 * * * *", "2026-03-08T05:30:00Z", 3, "America/New_York")).toEqual(["2026-03-08T06:00:00.000Z", "2026-03-08T07:00:00.000Z", "2026-03-08T08:00:00.000Z"]);
    // 2026-03-08 02:30 does not exist in New York: read with the offset before the change.
    expect(new Date(wallToInstant({ year: 2026, month: 3, day: 8, hour: 2, minute: 30, second: 0 }, "America/New_York")).toISOString()).toBe("2026-03-08T07:30:00.000Z");
  });

  it("knows IANA names and refuses others", () => {
    expect(timeZoneProblem("Europe/Paris")).toBeNull();
    expect(timeZoneProblem("UTC")).toBeNull();
    expect(timeZoneProblem("Europe/Atlantis")).toMatch(/^unknown time zone "Europe\/Atlantis"/);
  });
});

describe("periodic blocks", () => {
  const cfg = (over: Partial<PeriodicConfig>): PeriodicConfig => ({ Enabled: true, Spec: "", Specs: [], SpecType: "cron", ProhibitOverlap: false, TimeZone: "UTC", ...over });

  it("the next launch of a crons list is the earliest of its expressions'", () => {
    const p = cfg({ Specs: ["0 12 * * *", "30 6 * * *", "0 0 1 1 * 2020"] });
    expect(iso(periodicNext(p, at("2026-03-01T07:00:00Z")))).toBe("2026-03-01T12:00:00.000Z");
    expect(iso(periodicNext(p, at("2026-03-01T12:00:00Z")))).toBe("2026-03-02T06:30:00.000Z");
    expect(periodicNext(cfg({ Specs: ["0 0 1 1 * 2020"] }), at("2026-03-01T00:00:00Z"))).toBeNull();
  });

  it("validates as Nomad's PeriodicConfig.Validate does", () => {
    expect(periodicProblems(cfg({ Spec: "@daily" }))).toEqual([]);
    expect(periodicProblems(cfg({}))).toEqual([{ path: "Periodic.Spec", message: 'Must specify a spec: cron = "..." or crons = ["...", ...]' }]);
    expect(periodicProblems(cfg({ Spec: "@daily", Specs: ["@hourly"] }))).toEqual([{ path: "Periodic.Specs", message: "Only cron or crons may be used" }]);
    expect(periodicProblems(cfg({ Specs: ["@hourly", "x"] })).map((p) => p.path)).toEqual(["Periodic.Specs[1]"]);
    expect(periodicProblems(cfg({ Spec: "@daily", TimeZone: "Nowhere/Land" })).map((p) => p.path)).toEqual(["Periodic.TimeZone"]);
  });

  it("a child is the parent without its periodic block, named for its launch", () => {
    const parent = { ...mockJob(), ID: "report", Name: "report", Type: "batch" as const, Periodic: cfg({ Spec: "@daily" }), Version: 3, Stable: true };
    const child = periodicChild(parent, at("2026-03-01T00:00:00.900Z"));
    expect(child).toMatchObject({ ID: "report/periodic-1772323200", Name: "report/periodic-1772323200", ParentID: "report", Periodic: null, Type: "batch", Version: 0, Stable: false });
    expect(periodicChildId("report", at("2026-03-01T00:00:00Z"))).toBe(child.ID);
    expect(periodicLaunchOf(child.ID)).toBe(at("2026-03-01T00:00:00Z"));
    expect(periodicLaunchOf("report/dispatch-1-abc")).toBeNull();
  });
});
