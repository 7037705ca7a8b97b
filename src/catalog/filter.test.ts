import { describe, expect, it } from "vitest";
import { evaluateFilter, FilterEvalError, filterItems, parseFilter } from "./filter.js";

/** A `CheckServiceNode` as `/v1/health/service/:name` answers it. */
const entry = {
  Node: { Node: "n1", Address: "10.0.0.1", Meta: { rack: "r1" }, TaggedAddresses: { lan: "10.0.0.1" } },
  Service: { ID: "web-1", Service: "web", Tags: ["v1", "primary"], Port: 8080, Meta: { env: "prod", "app.kubernetes.io/name": "web" }, EnableTagOverride: false, Weights: { Passing: 3, Warning: 1 }, Proxy: null },
  Checks: [{ CheckID: "serfHealth", Status: "passing" }],
};

describe("parseFilter + evaluateFilter (go-bexpr's grammar)", () => {
  const cases: [string, boolean][] = [
    ['Service.Service == "web"', true],
    ["Service.Service == web", true],
    ['Service.Service != "web"', false],
    ['Service.Tags contains "v1"', true],
    ['Service.Tags not contains "v1"', false],
    ['"primary" in Service.Tags', true],
    ['"v2" not in Service.Tags', true],
    ['Service.Meta.env == "prod"', true],
    ['Service.Meta["env"] == "prod"', true],
    ['Service.Meta["app.kubernetes.io/name"] == web', true],
    ['Service.Meta.missing == "x"', false],
    ['Service.Meta.missing != "x"', true],
    ["Service.Meta.missing is empty", true],
    ['"env" in Service.Meta', true],
    ["Service.Meta is not empty", true],
    ["Service.Tags is empty", false],
    ["Service.Proxy is empty", true],
    ["Service.Port == 8080", true],
    ['Service.Port == "8080"', true],
    ["Service.Weights.Passing == 3", true],
    ["Service.EnableTagOverride == false", true],
    ['Service.ID matches "^web-[0-9]+$"', true],
    ['Service.ID not matches "^db"', true],
    ['Service.ID matches "(?i)^WEB"', true],
    ['Node.Address contains "10.0"', true],
    ["Service.Tags.0 == v1", true],
    ['Service.Service == "web" and Service.Port == 8080', true],
    ['Service.Service == "db" or Service.Port == 8080', true],
    ['not Service.Service == "db"', true],
    ['not not Service.Service == "db"', false],
    ['(Service.Service == "db" or Service.Service == "web") and "v1" in Service.Tags', true],
    ['Service.Service == "db" or Service.Service == "web" and Service.Port == 1', false],
    ['"/Service/Meta/env" == "prod"', true],
    ["Service.Service == `web`", true],
    ['Service.Service == "w\\u0065b"', true],
  ];
  for (const [expr, want] of cases) {
    it(`${expr} → ${want}`, () => {
      const p = parseFilter(expr);
      if (!p.ok) throw new Error(`did not parse: ${p.error.message} at ${p.error.column}`);
      expect(evaluateFilter(p.expr, entry)).toBe(want);
    });
  }

  const errors: [string, number, RegExp][] = [
    ['Service.Service == "web', 20, /Unterminated string/],
    ["Service.Service ==", 19, /expected a value/],
    ['Service.Service = "web"', 17, /Unexpected character "="/],
    ['(Service.Service == "web"', 1, /Unmatched parentheses/],
    ['Service.Service == "web")', 25, /unexpected "\)"/],
    ['"web" in "x"', 10, /Invalid selector/],
    ['Service.Service === "web"', 19, /Unexpected character "="/],
    ["Service.Tags is full", 17, /expected "empty"/],
    ['Service.Meta[env] == "x"', 14, /Invalid index/],
    ['Service.ID matches "(["', 20, /Failed to compile regular expression/],
    ["", 1, /expected a match expression/],
    ['Service.Service == "a" and', 27, /expected a match expression/],
    ["Service.Port == 12abc", 17, /Invalid number literal/],
  ];
  for (const [expr, column, message] of errors) {
    it(`refuses ${JSON.stringify(expr)} at column ${column}`, () => {
      const p = parseFilter(expr);
      expect(p.ok).toBe(false);
      if (p.ok) return;
      expect(p.error.message).toMatch(message);
      expect(p.error.column).toBe(column);
    });
  }

  it("refuses matches that go-bexpr cannot make: an unknown top-level field, == on a list, a non-number for a number", () => {
    const bad = (e: string): unknown => {
      const p = parseFilter(e);
      if (!p.ok) throw new Error(p.error.message);
      return () => evaluateFilter(p.expr, entry);
    };
    expect(bad('Nope == "x"')).toThrow(FilterEvalError);
    expect(bad('Service.Tags == "v1"')).toThrow(/contains/);
    expect(bad('Service.Port == "x"')).toThrow(/not a number/);
  });

  it("filterItems keeps what passes, all without a filter, and words a parse error as go-bexpr with its position", () => {
    const items = [entry, { ...entry, Service: { ...entry.Service, ID: "web-2", Tags: ["v2"] } }];
    expect(filterItems('"v2" in Service.Tags', items).map((x) => x.Service.ID)).toEqual(["web-2"]);
    expect(filterItems("", items)).toHaveLength(2);
    expect(filterItems(null, items)).toHaveLength(2);
    expect(() => filterItems("Service.ID ==", items)).toThrow("Failed to create result filter: 1:14 (13): expected a value after the operator, found the end of the expression");
  });
});
