import { describe, expect, it } from "vitest";
import { checkOperator, versionMatch } from "./index.js";

/**
 * The constraint operators, as a node's resolved attribute (`l`, undefined when the node
 * lacks it) meets the job's value (`r`). Expected values follow Nomad's `checkConstraint`
 * (scheduler/feasible.go) so that a Nomad job file places the same way here.
 */
type Case = readonly [l: string | undefined, op: string, r: string | undefined, want: boolean];

function show(v: string | undefined): string {
  return v === undefined ? "(missing)" : JSON.stringify(v);
}

function table(cases: readonly Case[]): void {
  it.each(cases.map(([l, op, r, want]) => ({ l, op, r, want, name: `${show(l)} ${op} ${show(r)} is ${want}` })))("$name", ({ l, op, r, want }) => {
    expect(checkOperator(op, l, r)).toBe(want);
  });
}

describe("checkOperator", () => {
  describe("equality: =, ==, is, !=, not", () => {
    table([
      ["linux", "=", "linux", true],
      ["linux", "=", "windows", false],
      ["linux", "=", "Linux", false],
      ["linux", "==", "linux", true],
      ["linux", "is", "linux", true],
      ["", "=", "", true],
      // A missing attribute equals nothing, not even another missing one.
      [undefined, "=", "linux", false],
      ["linux", "=", undefined, false],
      [undefined, "=", undefined, false],
      ["linux", "!=", "windows", true],
      ["linux", "!=", "linux", false],
      ["linux", "not", "windows", true],
      ["linux", "not", "linux", false],
      // A node without the attribute is not equal to the value, so `!=` holds...
      [undefined, "!=", "manager", true],
      // ...but two missing values are alike, as in Nomad (reflect.DeepEqual(nil, nil)).
      [undefined, "!=", undefined, false],
    ]);
  });

  describe("order: <, <=, >, >= (numeric when both sides are numbers, lexical otherwise)", () => {
    table([
      // Numeric: "9" < "10" although "9" sorts after "10" as text.
      ["9", "<", "10", true],
      ["10", "<", "9", false],
      ["10", ">", "9", true],
      ["10", ">=", "10", true],
      ["10", "<=", "10", true],
      ["10", "<", "10", false],
      ["10", ">", "10", false],
      ["16", ">=", "8", true],
      ["2.5", "<", "10", true],
      ["1.5", ">", "1.10", true],
      ["-1", "<", "0", true],
      ["1e3", ">=", "999", true],
      // Lexical as soon as one side is not a number.
      ["a", "<", "b", true],
      ["b", "<", "a", false],
      ["abc", ">=", "abd", false],
      ["abd", ">=", "abd", true],
      ["10", "<", "9a", true],
      ["rack-10", "<", "rack-9", true],
      // Versions are text here: 1.10.0 sorts before 1.9.0 (the `version` operator exists for them).
      ["1.10.0", "<", "1.9.0", true],
      ["", ">=", "0", false],
      // A missing side never orders.
      [undefined, "<", "10", false],
      [undefined, ">=", "0", false],
      ["10", ">", undefined, false],
    ]);
  });

  describe("regexp (unanchored, as Go's MatchString)", () => {
    table([
      ["r1", "regexp", "^r[12]$", true],
      ["r3", "regexp", "^r[12]$", false],
      ["rack-12", "regexp", "[0-9]+", true],
      ["rack", "regexp", "[0-9]+", false],
      ["6.1.0-13-amd64", "regexp", "amd64$", true],
      ["", "regexp", "^$", true],
      // An invalid pattern matches nothing rather than throwing inside the scheduler.
      ["x", "regexp", "(", false],
      ["x", "regexp", "[a-", false],
      [undefined, "regexp", ".*", false],
      ["x", "regexp", undefined, false],
    ]);
    it("gives the same answer when a pattern is used again (the compiled pattern is cached)", () => {
      for (let i = 0; i < 3; i++) {
        expect(checkOperator("regexp", "r1", "^r[12]$")).toBe(true);
        expect(checkOperator("regexp", "r3", "^r[12]$")).toBe(false);
        expect(checkOperator("regexp", "x", "(")).toBe(false);
      }
    });
  });

  describe("version and semver on attributes", () => {
    table([
      ["1.5.0", "version", ">= 1.2, < 2.0", true],
      ["2.0.0", "version", ">= 1.2, < 2.0", false],
      ["4.19.0-25-amd64", "version", ">= 4.19", true],
      ["4.19.0-25-amd64", "version", ">= 5.0", false],
      ["1.2.3", "semver", ">= 1.2.0", true],
      ["1.2.3-beta", "semver", ">= 1.2.3", false],
      [undefined, "version", ">= 1.0", false],
      [undefined, "semver", ">= 1.0.0", false],
      ["1.2.3", "version", undefined, false],
    ]);
  });

  describe("set_contains, set_contains_all, set_contains_any", () => {
    table([
      ["docker,exec,raw_exec", "set_contains", "exec,raw_exec", true],
      ["docker, exec , raw_exec", "set_contains", " raw_exec,exec ", true],
      ["docker,exec", "set_contains", "exec,java", false],
      ["docker,exec", "set_contains", "exec", true],
      ["docker,exec", "set_contains", "exe", false],
      ["docker,exec", "set_contains_all", "docker,exec", true],
      ["docker", "set_contains_all", "docker,exec", false],
      ["docker,exec", "set_contains_any", "java, exec", true],
      ["docker", "set_contains_any", "java,qemu", false],
      ["docker,exec", "set_contains_any", "docker", true],
      [undefined, "set_contains", "docker", false],
      [undefined, "set_contains_any", "docker", false],
      ["docker", "set_contains", undefined, false],
      ["docker", "set_contains_any", undefined, false],
    ]);
  });

  describe("is_set and is_not_set look only at the attribute", () => {
    table([
      ["r1", "is_set", undefined, true],
      ["", "is_set", undefined, true],
      ["r1", "is_set", "anything", true],
      [undefined, "is_set", undefined, false],
      [undefined, "is_set", "r1", false],
      [undefined, "is_not_set", undefined, true],
      ["r1", "is_not_set", undefined, false],
      ["", "is_not_set", undefined, false],
    ]);
  });

  describe("an operator it does not know matches nothing", () => {
    table([
      ["a", "~=", "a", false],
      ["a", "", "a", false],
      ["a", "EQ", "a", false],
    ]);
  });
});

type VersionCase = readonly [value: string, constraint: string, want: boolean];

function versions(strict: boolean, cases: readonly VersionCase[]): void {
  it.each(cases.map(([v, c, want]) => ({ v, c, want, name: `${JSON.stringify(v)} against ${JSON.stringify(c)} is ${want}` })))("$name", ({ v, c, want }) => {
    expect(versionMatch(v, c, strict)).toBe(want);
    expect(checkOperator(strict ? "semver" : "version", v, c)).toBe(want);
  });
}

describe("versionMatch, version (go-version constraints; a suffix after the numbers is ignored)", () => {
  describe("comparison lists", () => {
    versions(false, [
      ["1.5.0", ">= 1.2, < 2.0", true],
      ["1.2.0", ">= 1.2, < 2.0", true],
      ["1.2", ">= 1.2, < 2.0", true],
      ["1.1.9", ">= 1.2, < 2.0", false],
      ["2.0.0", ">= 1.2, < 2.0", false],
      ["1.9.99", ">=1.2,<2.0", true],
      ["v1.3.0", ">= 1.2, < 2.0", true],
      ["1.3.0", ">= v1.2", true],
      // Numbers, not text: 1.10 is after 1.9.
      ["1.10.0", "> 1.9.0", true],
      ["1.10.0", "< 1.9.0", false],
      ["1.2.3", "1.2.3", true],
      ["1.2.3", "= 1.2.3", true],
      ["1.2.3", "= 1.2.4", false],
      ["1.2.3", "!= 1.2.4", true],
      ["1.2.3", "!= 1.2.3", false],
      ["1.2.3", "<= 1.2.3", true],
      ["1.2.3", "> 1.2.3", false],
      ["1.2.3", ">= 1.0, != 1.2.3", false],
    ]);
  });

  describe("pessimistic ~>", () => {
    versions(false, [
      // ~> 1.2 allows >= 1.2, < 2.0
      ["1.2.0", "~> 1.2", true],
      ["1.9.7", "~> 1.2", true],
      ["1.1.0", "~> 1.2", false],
      ["2.0.0", "~> 1.2", false],
      // ~> 1.2.3 allows >= 1.2.3, < 1.3.0
      ["1.2.3", "~> 1.2.3", true],
      ["1.2.99", "~> 1.2.3", true],
      ["1.2.2", "~> 1.2.3", false],
      ["1.3.0", "~> 1.2.3", false],
      ["2.0.0", "~> 1.2.3", false],
      ["0.1.5", "~> 0.1", true],
      ["1.0.0", "~> 0.1", false],
      ["1.4.0", "~> 1.2, != 1.4.0", false],
    ]);
  });

  describe("a Linux kernel version such as 4.19.0-25-amd64", () => {
    versions(false, [
      ["4.19.0-25-amd64", ">= 4.19", true],
      ["4.19.0-25-amd64", ">= 4.19.0", true],
      ["4.19.0-25-amd64", "= 4.19.0", true],
      ["4.19.0-25-amd64", ">= 4.0, < 5.0", true],
      ["4.19.0-25-amd64", "~> 4.19", true],
      ["4.19.0-25-amd64", "~> 4.18.0", false],
      ["4.19.0-25-amd64", ">= 5.0", false],
      ["4.19.0-25-amd64", "> 4.19.0", false],
      ["6.1.0-13-cloud-amd64", ">= 5.4", true],
      ["5.15.0-1034-azure", "< 5.16", true],
      ["6.8.0", ">= 4.19.0-25-amd64", true],
    ]);
  });

  describe("what is not a version never matches", () => {
    versions(false, [
      ["linux", ">= 1.0", false],
      ["", ">= 0", false],
      ["1.2.3", "", false],
      ["1.2.3", "about 1.2", false],
      ["1.2.3", ">= one", false],
      ["1.2.3", ">= 1.0,", false],
      ["1.2.3", ">> 1.0", false],
    ]);
  });
});

describe("versionMatch, semver (strict: major.minor.patch, pre-releases ordered as SemVer 2.0)", () => {
  describe("plain versions", () => {
    versions(true, [
      ["1.2.3", ">= 1.2.0", true],
      ["1.2.3", ">= 1.2.0, < 2.0.0", true],
      ["2.0.0", ">= 1.2.0, < 2.0.0", false],
      ["1.10.0", "> 1.9.0", true],
      ["v1.2.3", "= 1.2.3", true],
      ["1.2.3", "~> 1.2.0", true],
      ["1.3.0", "~> 1.2.0", false],
    ]);
  });

  describe("pre-releases sort before their release and satisfy lower constraints", () => {
    versions(true, [
      ["1.0.0-beta", "< 1.0.0", true],
      ["1.0.0-beta", ">= 1.0.0", false],
      ["1.0.0-rc.1", ">= 1.0.0", false],
      ["1.6.0-beta", ">= 1.0.0", true],
      ["1.6.0-beta", "> 1.5.9", true],
      ["1.0.0-alpha", "< 1.0.0-alpha.1", true],
      ["1.0.0-alpha.1", "< 1.0.0-alpha.beta", true],
      ["1.0.0-alpha.beta", "< 1.0.0-beta", true],
      ["1.0.0-beta.11", "< 1.0.0-rc.1", true],
      ["1.0.0-rc.1", "< 1.0.0", true],
      ["1.0.0-rc.1", "= 1.0.0-rc.1", true],
      ["1.0.0-rc.1", "= 1.0.0-rc.2", false],
      // The kernel's suffix is a pre-release under semver: below 4.19.0 itself.
      ["4.19.0-25-amd64", ">= 4.19.0", false],
      ["4.19.0-25-amd64", "> 4.18.0", true],
      ["4.19.0-25-amd64", "< 4.19.0", true],
    ]);
  });

  describe("pre-release identifiers compare one by one, numbers as numbers (SemVer 2.0 §11.4)", () => {
    versions(true, [
      ["1.0.0-beta.2", "< 1.0.0-beta.11", true],
      ["1.0.0-beta.11", "> 1.0.0-beta.2", true],
      ["1.0.0-rc.10", "> 1.0.0-rc.9", true],
      ["1.0.0-rc.9", "> 1.0.0-rc.10", false],
      // A numeric identifier sorts before an alphanumeric one; a longer list after its prefix.
      ["1.0.0-1", "< 1.0.0-alpha", true],
      ["1.0.0-alpha.1", "> 1.0.0-alpha", true],
    ]);
  });

  describe("build metadata never counts (SemVer 2.0 §10)", () => {
    versions(true, [
      ["1.2.3+build.5", ">= 1.2.3", true],
      ["1.2.3+build.5", "= 1.2.3", true],
      ["1.2.3+build.5", "> 1.2.3", false],
      ["1.0.0-rc.1+build.5", "= 1.0.0-rc.1", true],
      ["1.0.0-rc.1+build.5", "< 1.0.0", true],
    ]);
  });

  describe("a constraint may write fewer than three parts, as the job validator accepts and Nomad's docs write it", () => {
    versions(true, [
      ["1.2.3", ">= 1.0", true],
      ["1.2.3", ">= 1", true],
      ["0.9.0", ">= 1.0", false],
      ["1.6.0-beta", ">= 1.0", true],
      ["2.0.0", "< 2", false],
    ]);
  });

  describe("what is not a full semver never matches", () => {
    versions(true, [
      // The value, unlike the constraint, must be major.minor.patch.
      ["1.2", ">= 1.0.0", false],
      ["1", ">= 0.0.1", false],
      ["1.2.3.4", ">= 1.0.0", false],
      ["linux", ">= 1.0.0", false],
      ["1.2.3", ">= x.y.z", false],
    ]);
  });
});

describe("versionMatch, version: every segment counts, as in go-version", () => {
  versions(false, [
    ["1.2.3.4", "> 1.2.3", true],
    ["1.2.3.4", "= 1.2.3", false],
    ["1.2.3.4", "< 1.2.3.10", true],
    ["1.2.3", "= 1.2.3.0", true],
    ["10.0.19045.2006", ">= 10.0.19041", true],
  ]);
});
