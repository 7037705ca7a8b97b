import { describe, expect, it } from "vitest";
import { compileAcl } from "../structs/index.js";
import { checkAclPolicy, formatDiagnostic, loadAclPolicyParser, parseAclPolicy } from "./index.js";

async function errors(source: string, file = "p.hcl"): Promise<string[]> {
  const r = await checkAclPolicy(source, file);
  if (r.ok) throw new Error("the policy was accepted");
  return r.diagnostics.map(formatDiagnostic);
}

async function rules(source: string, file = "p.hcl") {
  const r = await checkAclPolicy(source, file);
  if (!r.ok) throw new Error(r.diagnostics.map(formatDiagnostic).join("\n"));
  return r.rules;
}

describe("parseAclPolicy: Nomad's rules", () => {
  it("reads namespace, node, agent and operator blocks", async () => {
    const r = await rules(`
namespace "default" {
  policy       = "read"
  capabilities = ["submit-job", "alloc-node-exec"]
}
namespace "prod-*" {
  policy = "deny"
}
node {
  policy = "read"
}
agent {
  policy = "write"
}
operator {
  policy = "read"
}
`);
    expect(r).toEqual({
      namespaces: [
        { name: "default", policy: "read", capabilities: ["submit-job", "alloc-node-exec"] },
        { name: "prod-*", policy: "deny", capabilities: [] },
      ],
      node: "read",
      agent: "write",
      operator: "read",
      prefixes: [],
    });
    const acl = compileAcl([r]);
    expect([acl.namespace("default", "submit-job"), acl.namespace("default", "read-logs"), acl.namespace("prod-web", "read-job"), acl.allows("node", "write")]).toEqual([true, false, false, false]);
  });

  it("reads the same policy written as JSON", async () => {
    const r = await rules(
      JSON.stringify({ namespace: { default: { policy: "write" }, "*": { capabilities: ["list-jobs"] } }, node: { policy: "write" }, operator: { policy: "read" } }, null, 2),
      "p.json",
    );
    expect(r).toEqual({
      namespaces: [
        { name: "default", policy: "write", capabilities: [] },
        { name: "*", capabilities: ["list-jobs"] },
      ],
      node: "write",
      operator: "read",
      prefixes: [],
    });
  });

  it("reports every mistake at its file:line:col, with a suggestion", async () => {
    expect(
      await errors(`namespace "default" {
  policy = "raed"
  capabilities = ["submit-jobs", "read-job"]
  polcy = "read"
}
nodes {
  policy = "read"
}
agent {
  policy = "scale"
}
`),
    ).toEqual([
      'p.hcl:2:3: namespace["default"].policy: policy must be one of "deny", "read", "write", "scale", got "raed"; did you mean "read"?',
      'p.hcl:3:3: namespace["default"].capabilities: unknown capability "submit-jobs"; did you mean "submit-job"?',
      'p.hcl:4:3: namespace["default"].polcy: unknown key "polcy" in namespace["default"]; did you mean "policy"?',
      'p.hcl:6:1: nodes: unknown rule "nodes"; did you mean "node"?',
      'p.hcl:10:3: agent.policy: policy must be one of "deny", "read", "write", got "scale"',
    ]);
  });

  it("refuses what Ruche does not offer", async () => {
    expect(await errors(`quota {\n  policy = "read"\n}\n`)).toEqual(["p.hcl:1:1: quota: resource quotas are not offered by Ruche"]);
    expect(await errors(`namespace "default" {\n  variables {\n    path "/x" { capabilities = ["read"] }\n  }\n}\n`)).toEqual(['p.hcl:3:5: namespace["default"].variables.path["/x"]: variable path "/x" cannot start with a leading \'/\'']);
    expect(await errors(`{"plugin": {"policy": "list"}}`, "p.json")).toEqual(["p.json:1:1: plugin: Ruche has no CSI plugins"]);
  });

  it("refuses a bad namespace name, a missing label, an empty policy and a block set twice", async () => {
    expect(await errors(`namespace "a/b" {\n  policy = "read"\n}\n`)).toEqual(['p.hcl:1:1: namespace["a/b"]: "a/b" is not a namespace name or glob: letters, digits, "-" and "*", 1 to 128 of them']);
    expect(await errors(`namespace {\n  policy = "read"\n}\n`)).toEqual(['p.hcl:1:1: namespace: a namespace block needs one label: namespace "default" { policy = "read" }']);
    expect(await errors(`# nothing\n`)).toEqual(['p.hcl:1:1: the policy has no rules: write at least one block, such as namespace "default" { policy = "read" }']);
    expect(await errors(`node {\n  policy = "read"\n}\nnode {\n  policy = "write"\n}\n`)).toEqual(["p.hcl:4:1: node: node is set twice (first at line 1)"]);
    expect(await errors(`agent {\n}\n`)).toEqual(['p.hcl:1:1: agent: agent needs a policy: one of "deny", "read", "write"']);
  });

  it("passes the HCL parser's syntax errors on", async () => {
    const e = await errors(`namespace "default" {\n  policy = \n}\n`);
    expect(e[0]).toMatch(/^p\.hcl:\d+:\d+: /);
  });
});

describe("parseAclPolicy: Consul's rules", () => {
  it("reads prefix and exact rules, telling Consul's node \"NAME\" from Nomad's node block", async () => {
    const r = await rules(`
key_prefix "" {
  policy = "read"
}
key_prefix "app/" {
  policy = "write"
}
key "app/secret" {
  policy = "deny"
}
service_prefix "web" {
  policy = "write"
}
session_prefix "" {
  policy = "write"
}
node_prefix "" {
  policy = "read"
}
node "n1" {
  policy = "write"
}
node {
  policy = "read"
}
operator = "read"
`);
    expect(r.node).toBe("read");
    expect(r.operator).toBe("read");
    expect(r.prefixes).toEqual([
      { kind: "key", name: "", exact: false, policy: "read" },
      { kind: "key", name: "app/", exact: false, policy: "write" },
      { kind: "key", name: "app/secret", exact: true, policy: "deny" },
      { kind: "service", name: "web", exact: false, policy: "write" },
      { kind: "session", name: "", exact: false, policy: "write" },
      { kind: "node", name: "", exact: false, policy: "read" },
      { kind: "node", name: "n1", exact: true, policy: "write" },
    ]);
    const acl = compileAcl([r]);
    expect([acl.prefix("key", "app/x", "write"), acl.prefix("key", "app/secret", "read"), acl.prefix("key", "secret/x", "write"), acl.prefix("key", "secret/x", "read")]).toEqual([true, false, false, true]);
  });

  it("reads Consul's prepared query rules: query_prefix and query, by the query's name", async () => {
    const r = await rules(`query_prefix "" {\n  policy = "read"\n}\nquery_prefix "web-" {\n  policy = "write"\n}\nquery "web-admin" {\n  policy = "deny"\n}\n`);
    expect(r.prefixes).toEqual([
      { kind: "query", name: "", exact: false, policy: "read" },
      { kind: "query", name: "web-", exact: false, policy: "write" },
      { kind: "query", name: "web-admin", exact: true, policy: "deny" },
    ]);
    const acl = compileAcl([r]);
    expect([acl.prefix("query", "web-a", "write"), acl.prefix("query", "web-admin", "read"), acl.prefix("query", "db", "read"), acl.prefix("query", "db", "write")]).toEqual([true, false, true, false]);
    expect(await errors(`query "x" {\n  policy = "list"\n}\n`)).toEqual(['p.hcl:2:3: query["x"].policy: policy must be one of "deny", "read", "write", got "list"']);
  });

  it("reads Consul's event rules (event_prefix, event): what /v1/event/fire and /v1/event/list check", async () => {
    const r = await rules(`event_prefix "" {\n  policy = "read"\n}\nevent "deploy" {\n  policy = "write"\n}\n`);
    const acl = compileAcl([r]);
    expect([acl.prefix("event", "deploy", "write"), acl.prefix("event", "other", "write"), acl.prefix("event", "other", "read")]).toEqual([true, false, true]);
  });

  it("reads Consul's JSON form, and a Consul node rule in it", async () => {
    const r = await rules(`{
  "key_prefix": { "app/": { "policy": "list" } },
  "node": { "n1": { "policy": "read" } },
  "service": [{ "web": { "policy": "read" } }]
}`);
    expect(r.prefixes).toEqual([
      { kind: "key", name: "app/", exact: false, policy: "list" },
      { kind: "node", name: "n1", exact: true, policy: "read" },
      { kind: "service", name: "web", exact: true, policy: "read" },
    ]);
    expect(r.node).toBeUndefined();
    expect(await errors(`{"node": {}, "key_prefix": {}}`, "p.json")).toEqual([
      'p.json:1:2: node: node needs a policy: one of "deny", "read", "write"',
      'p.json:1:14: key_prefix: key_prefix names nothing: write "key_prefix": { "NAME": { "policy": "read" } }',
    ]);
  });

  it("takes list for keys only, and refuses Consul's rules Ruche does not have", async () => {
    expect(await errors(`service_prefix "" {\n  policy = "list"\n}\n`)).toEqual(['p.hcl:2:3: service_prefix[""].policy: policy must be one of "deny", "read", "write", got "list"']);
    expect(await errors(`key_prefix "" {\n  policy = "red"\n}\n`)).toEqual(['p.hcl:2:3: key_prefix[""].policy: policy must be one of "deny", "read", "list", "write", got "red"; did you mean "read"?']);
    expect(await errors(`service "web" {\n  policy = "write"\n  intentions = "read"\n}\n`)).toEqual(['p.hcl:3:3: service["web"].intentions: Ruche has no service mesh intentions']);
    expect(await errors(`keyring = "read"\nkey_prefix "a" {\n}\n`)).toEqual([
      "p.hcl:1:1: keyring: Ruche has no gossip keyring",
      'p.hcl:2:1: key_prefix["a"]: key_prefix["a"] needs a policy: one of "deny", "read", "list", "write"',
    ]);
  });
});

describe("parseAclPolicy: synchronous, once the grammar is loaded", () => {
  it("gives the rules, or throws 400 naming the first mistake at its file:line:col and every one in details", async () => {
    await loadAclPolicyParser();
    expect(parseAclPolicy('node {\n  policy = "read"\n}\n', "policy ops")).toEqual({ namespaces: [], prefixes: [], node: "read" });
    let thrown: unknown;
    try {
      parseAclPolicy('node {\n  policy = "rd"\n}\nagent {\n  policy = "x"\n}\n', "policy ops");
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toMatchObject({
      code: "RUCHE_BAD_REQUEST",
      message: 'the policy\'s rules are not valid: policy ops:2:3: node.policy: policy must be one of "deny", "read", "write", got "rd"; did you mean "read"? (and 1 more)',
      path: "Rules",
      details: [
        'policy ops:2:3: node.policy: policy must be one of "deny", "read", "write", got "rd"; did you mean "read"?',
        'policy ops:5:3: agent.policy: policy must be one of "deny", "read", "write", got "x"',
      ],
    });
  });
});
