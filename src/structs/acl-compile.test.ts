import { describe, expect, it } from "vitest";
import { compileAcl, globMatch, managementAcl, type AclRules, type NamespaceCap, type PrefixRule } from "./index.js";

const rules = (r: Partial<AclRules>): AclRules => ({ namespaces: [], prefixes: [], ...r });
const ns = (name: string, policy?: "deny" | "read" | "write" | "scale", capabilities: string[] = []): AclRules =>
  rules({ namespaces: [{ name, ...(policy === undefined ? {} : { policy }), capabilities }] });
const kv = (name: string, policy: PrefixRule["policy"], exact = false): PrefixRule => ({ kind: "key", name, exact, policy });

const ALL_CAPS: NamespaceCap[] = [
  "list-jobs",
  "parse-job",
  "read-job",
  "submit-job",
  "dispatch-job",
  "read-logs",
  "read-fs",
  "alloc-exec",
  "alloc-node-exec",
  "alloc-lifecycle",
  "scale-job",
  "read-job-scaling",
];
const granted = (policies: AclRules[], namespace = "default"): NamespaceCap[] => {
  const acl = compileAcl(policies);
  return ALL_CAPS.filter((c) => acl.namespace(namespace, c));
};

describe("compileAcl: Nomad's namespace policies", () => {
  // Nomad's expandNamespacePolicy: read, write and scale; alloc-node-exec only when named.
  it.each([
    ["read", ["list-jobs", "parse-job", "read-job", "read-job-scaling"]],
    ["write", ["list-jobs", "parse-job", "read-job", "submit-job", "dispatch-job", "read-logs", "read-fs", "alloc-exec", "alloc-lifecycle", "scale-job", "read-job-scaling"]],
    ["scale", ["read-job", "scale-job", "read-job-scaling"]],
    ["deny", []],
  ] as const)("policy = %s grants exactly %j", (policy, caps) => {
    expect(granted([ns("default", policy)])).toEqual(caps);
  });

  it("adds named capabilities to the policy's, alloc-node-exec included", () => {
    expect(granted([ns("default", "read", ["alloc-node-exec", "read-logs"])])).toEqual(["list-jobs", "parse-job", "read-job", "read-logs", "alloc-node-exec", "read-job-scaling"]);
    expect(granted([ns("default", "write")])).not.toContain("alloc-node-exec");
  });

  it("joins policies on the same namespace, and deny in any of them wins, whatever the order", () => {
    expect(granted([ns("default", undefined, ["list-jobs"]), ns("default", undefined, ["submit-job"])])).toEqual(["list-jobs", "submit-job"]);
    expect(granted([ns("default", "write"), ns("default", "deny")])).toEqual([]);
    expect(granted([ns("default", "deny"), ns("default", "write")])).toEqual([]);
    expect(granted([ns("default", undefined, ["read-job", "deny"]), ns("default", "read")])).toEqual([]);
    const acl = compileAcl([ns("default", "write"), ns("default", undefined, ["deny"])]);
    expect(acl.namespace("default", "deny")).toBe(true);
  });

  it("grants nothing in a namespace no block names", () => {
    expect(granted([ns("prod", "write")], "default")).toEqual([]);
    expect(granted([])).toEqual([]);
  });

  it("decides by the exact block before any glob", () => {
    expect(granted([ns("*", "write"), ns("default", "read")])).toEqual(["list-jobs", "parse-job", "read-job", "read-job-scaling"]);
  });

  // Nomad's acl_test.go: the closest glob is the one with the smallest len(ns) - len(glob) + stars.
  it.each([
    ["prod-api-services", ["*", "prod-api-*"], "prod-api-*"],
    ["prod-api-services", ["*", "*-api-services"], "*-api-services"],
    ["production-admin-api", ["*", "production-*"], "production-*"],
    ["production-admin-api", ["*admin*", "production-*"], "production-*"],
    ["dev", ["*", "prod-*"], "*"],
  ])("namespace %s is decided by the closest of %j: %s", (namespace, globs, winner) => {
    // Each glob gets a different single capability, so the one that decided shows.
    const caps: NamespaceCap[] = ["submit-job", "read-logs"];
    const acl = compileAcl(globs.map((g, i) => ns(g, undefined, [caps[i] as string])));
    expect(acl.namespace(namespace, caps[globs.indexOf(winner)] as NamespaceCap)).toBe(true);
    for (const [i, g] of globs.entries()) if (g !== winner) expect(acl.namespace(namespace, caps[i] as NamespaceCap)).toBe(false);
  });

  it("lets a closer deny glob shut a wider grant", () => {
    const acl = compileAcl([ns("*", "write"), ns("prod-*", "deny")]);
    expect(acl.namespace("prod-web", "read-job")).toBe(false);
    expect(acl.namespace("default", "submit-job")).toBe(true);
  });

  it("matches globs as go-glob does", () => {
    expect(globMatch("*", "")).toBe(true);
    expect(globMatch("prod-*", "prod-")).toBe(true);
    expect(globMatch("prod-*", "pro")).toBe(false);
    expect(globMatch("*-api-*", "prod-api-web")).toBe(true);
    expect(globMatch("a*b*c", "abc")).toBe(true);
    expect(globMatch("a*b*c", "acb")).toBe(false);
    expect(globMatch("default", "default")).toBe(true);
    expect(globMatch("default", "default2")).toBe(false);
  });
});

describe("compileAcl: node, agent, operator", () => {
  it.each([
    [["read"], { read: true, write: false }],
    [["write"], { read: true, write: true }],
    [["deny"], { read: false, write: false }],
    [["read", "write"], { read: true, write: true }],
    [["write", "deny"], { read: false, write: false }],
    [[], { read: false, write: false }],
  ] as const)("policies %j on node give %j", (levels, want) => {
    const acl = compileAcl(levels.map((node) => rules({ node })));
    expect({ read: acl.allows("node", "read"), write: acl.allows("node", "write") }).toEqual(want);
    expect(acl.allows("agent", "read")).toBe(false);
    expect(acl.management).toBe(false);
  });

  it("keeps each resource apart", () => {
    const acl = compileAcl([rules({ agent: "read", operator: "write" })]);
    expect([acl.allows("agent", "read"), acl.allows("agent", "write"), acl.allows("operator", "write"), acl.allows("node", "read")]).toEqual([true, false, true, false]);
  });
});

describe("compileAcl: Consul's prefix rules", () => {
  // Consul's documentation example: read everything, write under foo/, nothing under foo/private/.
  const docs = compileAcl([rules({ prefixes: [kv("", "read"), kv("foo/", "write"), kv("foo/private/", "deny")] })]);
  it.each([
    ["bar", "read", true],
    ["bar", "write", false],
    ["foo/x", "write", true],
    ["foo/private/x", "read", false],
    ["foo/private", "write", true],
  ] as const)("key %s, %s: %s", (key, level, want) => {
    expect(docs.prefix("key", key, level)).toBe(want);
  });

  it("lets an exact rule decide before any prefix", () => {
    const acl = compileAcl([rules({ prefixes: [kv("app/", "write"), kv("app/secret", "deny", true)] })]);
    expect(acl.prefix("key", "app/secret", "read")).toBe(false);
    expect(acl.prefix("key", "app/secret2", "write")).toBe(true);
    expect(acl.prefix("key", "app/x", "write")).toBe(true);
  });

  it.each([
    ["read", { read: true, list: false, write: false }],
    ["list", { read: true, list: true, write: false }],
    ["write", { read: true, list: true, write: true }],
    ["deny", { read: false, list: false, write: false }],
  ] as const)("a key rule of %s grants %j", (policy, want) => {
    const acl = compileAcl([rules({ prefixes: [kv("app/", policy)] })]);
    expect({ read: acl.prefix("key", "app/a", "read"), list: acl.prefix("key", "app/a", "list"), write: acl.prefix("key", "app/a", "write") }).toEqual(want);
  });

  it("merges the same prefix from several policies: deny wins, else the most", () => {
    expect(compileAcl([rules({ prefixes: [kv("app/", "write")] }), rules({ prefixes: [kv("app/", "deny")] })]).prefix("key", "app/a", "read")).toBe(false);
    expect(compileAcl([rules({ prefixes: [kv("app/", "read")] }), rules({ prefixes: [kv("app/", "write")] })]).prefix("key", "app/a", "write")).toBe(true);
  });

  it("keeps kinds apart and denies what no rule names", () => {
    const acl = compileAcl([
      rules({
        prefixes: [
          { kind: "service", name: "web", exact: false, policy: "write" },
          { kind: "node", name: "n1", exact: true, policy: "read" },
        ],
      }),
    ]);
    expect(acl.prefix("service", "web-api", "write")).toBe(true);
    expect(acl.prefix("service", "db", "read")).toBe(false);
    expect(acl.prefix("node", "n1", "read")).toBe(true);
    expect(acl.prefix("node", "n10", "read")).toBe(false);
    expect(acl.prefix("key", "web", "read")).toBe(false);
    expect(acl.prefix("session", "n1", "read")).toBe(false);
  });
});

describe("managementAcl", () => {
  it("allows everything", () => {
    const acl = managementAcl();
    expect([acl.management, acl.namespace("x", "alloc-node-exec"), acl.allows("operator", "write"), acl.prefix("key", "secret/", "write")]).toEqual([true, true, true, true]);
  });
});
