/**
 * The DNS interface of server agents started in this process with ACLs on, asked with the
 * real `dig`: as Consul's, it answers what its DNS token (`acl { tokens { dns } }`) may read,
 * and the anonymous token's view when none is set.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentConfigFromArgs } from "../cli/commands/agent.js";
import { dnsAccess } from "./dns-acl.js";
import { startAgent, type RunningAgent } from "./index.js";

const exec = promisify(execFile);

/** The DNS token's secret, created (through Consul's ACL API) only after the agent started. */
const DNS_SECRET = "3f1e0c9a-6b4d-4c8e-9a2f-7d5b1e3c9a01";

interface Booted {
  agent: RunningAgent;
  dns: string;
  consul: string;
  /** The management token `PUT /v1/acl/bootstrap` gave. */
  root: string;
}

let dir = "";
let anon: Booted | undefined;
let tok: Booted | undefined;
let policyId = "";

async function boot(name: string, config: string): Promise<Booted> {
  const at = join(dir, name);
  const cfg = join(dir, `${name}.hcl`);
  writeFileSync(cfg, config);
  const parsed = await agentConfigFromArgs(["-server", "-data-dir", at, "-bind", "127.0.0.1", "-http-port", "0", "-consul-port", "0", "-dns-port", "0", "-node", `ruche-${name}`, "-config", cfg], dir);
  let out = "";
  const agent = await startAgent({ ...parsed.config, logLevel: "error" }, (line) => (out += line));
  const dns = /DNS: +127\.0\.0\.1:(\d+)/.exec(out)?.[1] ?? "";
  const consul = /Consul: +http:\/\/(\S+)/.exec(out)?.[1] ?? "";
  expect(dns, out).not.toBe("");
  const b = await fetch(`http://${consul}/v1/acl/bootstrap`, { method: "PUT" });
  const body = (await b.json()) as { SecretID?: string };
  expect(b.status, JSON.stringify(body)).toBe(200);
  const booted = { agent, dns, consul, root: body.SecretID ?? "" };
  // web on node n1 (10.30.0.1), db on n2 (10.30.0.2), each with its own address.
  for (const [id, node, address] of [["web", "n1", "1"], ["db", "n2", "2"]] as const) {
    await call(booted, "PUT", "/v1/catalog/register", { Node: node, Address: `10.30.0.${address}`, Service: { ID: id, Service: id, Address: `10.20.0.${address}`, Port: 8080 } });
  }
  for (const service of ["web", "db"]) await call(booted, "POST", "/v1/query", { Name: `${service}-q`, Service: { Service: service } });
  return booted;
}

async function call(b: Booted, method: string, path: string, body: unknown): Promise<unknown> {
  const res = await fetch(`http://${b.consul}${path}`, { method, headers: { "x-consul-token": b.root }, body: JSON.stringify(body) });
  const text = await res.text();
  expect(res.status, `${method} ${path}: ${text}`).toBe(200);
  return JSON.parse(text) as unknown;
}

async function dig(b: Booted | undefined, ...args: string[]): Promise<string> {
  try {
    return (await exec("dig", ["@127.0.0.1", "-p", b?.dns ?? "", "+tries=1", "+time=5", ...args], { timeout: 20_000 })).stdout;
  } catch (err) {
    if ((err as { code?: unknown }).code === "ENOENT") throw new Error("dig is not installed: scripts/test-deps.sh installs it (Debian package dnsutils)", { cause: err });
    throw err;
  }
}

const status = (out: string): string => /status: (\w+)/.exec(out)?.[1] ?? `no status in: ${out}`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-dns-acl-"));
  anon = await boot("anon", "acl { enabled = true }\ntls { enabled = false }\n");
  tok = await boot("tok", `acl {\n  enabled = true\n  tokens {\n    dns = "${DNS_SECRET}"\n  }\n}\ntls { enabled = false }\n`);
}, 120_000);

afterAll(async () => {
  await anon?.agent.stop();
  await tok?.agent.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("DNS with ACLs on and no DNS token: the anonymous token's view", () => {
  it("answers no service, node, server, prepared query or PTR", async () => {
    for (const name of ["web.service.consul", "db.service.consul", "n1.node.consul", "consul.service.consul", "web-q.query.consul"]) {
      expect(status(await dig(anon, name, "A")), name).toBe("NXDOMAIN");
    }
    expect(status(await dig(anon, "web.service.consul", "SRV"))).toBe("NXDOMAIN");
    expect(status(await dig(anon, "-x", "10.30.0.1"))).toBe("NXDOMAIN");
    expect(status(await dig(anon, "-x", "10.20.0.1"))).toBe("NXDOMAIN");
    // No name server either: the servers are the `consul` service, which it may not read.
    expect((await dig(anon, "+short", "consul", "NS")).trim()).toBe("");
  });

  it("still answers an .addr. name: the address is in the name, as in Consul", async () => {
    expect((await dig(anon, "+short", "0a140001.addr.consul", "A")).trim()).toBe("10.20.0.1");
  });
});

describe("DNS with a DNS token (acl { tokens { dns } })", () => {
  it("answers SERVFAIL while the token does not exist", async () => {
    expect(status(await dig(tok, "web.service.consul", "A"))).toBe("SERVFAIL");
  });

  it("answers what the token's policy may read: web and the nodes, not db", async () => {
    if (tok === undefined) throw new Error("no agent");
    policyId = ((await call(tok, "PUT", "/v1/acl/policy", { Name: "dns", Rules: 'service_prefix "web" { policy = "read" }\nnode_prefix "" { policy = "read" }\n' })) as { ID: string }).ID;
    await call(tok, "PUT", "/v1/acl/token", { SecretID: DNS_SECRET, Description: "dns", Policies: [{ Name: "dns" }] });

    expect((await dig(tok, "+short", "web.service.consul", "A")).trim()).toBe("10.20.0.1");
    expect((await dig(tok, "+short", "n2.node.consul", "A")).trim()).toBe("10.30.0.2");
    expect(status(await dig(tok, "db.service.consul", "A"))).toBe("NXDOMAIN");

    // SRV: web's, with its target's address in the additional section; db's not at all.
    const srv = await dig(tok, "+noall", "+answer", "+additional", "web.service.consul", "SRV");
    expect(srv).toMatch(/^web\.service\.consul\.\s+0\s+IN\s+SRV\s+1 1 8080 0a140001\.addr\.dc1\.consul\.$/m);
    expect(srv).toMatch(/^0a140001\.addr\.dc1\.consul\.\s+0\s+IN\s+A\s+10\.20\.0\.1$/m);
    expect(status(await dig(tok, "db.service.consul", "SRV"))).toBe("NXDOMAIN");

    // PTR: the node and web, not db.
    expect((await dig(tok, "+short", "-x", "10.30.0.1")).trim()).toBe("n1.node.dc1.consul.");
    expect((await dig(tok, "+short", "-x", "10.20.0.1")).trim()).toBe("web.service.dc1.consul.");
    expect(status(await dig(tok, "-x", "10.20.0.2"))).toBe("NXDOMAIN");

    // Prepared queries run with the DNS token too (the queries have no Token of their own).
    expect((await dig(tok, "+short", "web-q.query.consul", "A")).trim()).toBe("10.20.0.1");
    expect(status(await dig(tok, "db-q.query.consul", "A"))).toBe("NXDOMAIN");

    // The servers are the `consul` service: not readable with this policy.
    expect(status(await dig(tok, "consul.service.consul", "A"))).toBe("NXDOMAIN");
  });

  it("answers a policy's change at the next question", async () => {
    if (tok === undefined) throw new Error("no agent");
    await call(tok, "PUT", `/v1/acl/policy/${policyId}`, { Name: "dns", Rules: 'service_prefix "" { policy = "read" }\nnode_prefix "" { policy = "read" }\n' });
    expect((await dig(tok, "+short", "db.service.consul", "A")).trim()).toBe("10.20.0.2");
    expect((await dig(tok, "+short", "consul.service.consul", "A")).trim()).toBe("127.0.0.1");
    expect((await dig(tok, "+short", "consul", "NS")).trim()).toBe("ruche-tok.node.dc1.consul.");
  });
});

describe("acl { tokens } in an agent config file", () => {
  it("reads dns and default, notes what default does, and refuses what is not built", async () => {
    const file = join(dir, "tokens.hcl");
    writeFileSync(file, 'acl {\n  tokens {\n    dns = "a"\n    default = "b"\n  }\n}\n');
    const parsed = await agentConfigFromArgs(["-server", "-data-dir", join(dir, "x"), "-config", file], dir);
    expect(parsed.config.acl).toEqual({ enabled: true, tokens: { dns: "a", default: "b" } });
    expect(parsed.notes.join("\n")).toMatch(/tokens \{ default \} \} is the DNS interface's token/);
    writeFileSync(file, 'acl {\n  tokens {\n    agent = "a"\n  }\n}\n');
    await expect(agentConfigFromArgs(["-server", "-data-dir", join(dir, "x"), "-config", file], dir)).rejects.toThrow(/tokens \{ agent \}/);
    await expect(agentConfigFromArgs(["-server", "-data-dir", join(dir, "x"), "-acl-dns-token", " "], dir)).rejects.toThrow(/-acl-dns-token is empty/);
  });
});

describe("the DNS token at start", () => {
  const noTokens = { aclTokenBySecret: () => undefined, aclToken: () => undefined, aclPolicy: () => undefined };
  const warnings = (tokens: { dns?: string; default?: string } | undefined): string[] => {
    const said: string[] = [];
    dnsAccess(noTokens, tokens, { debug: () => undefined, info: () => undefined, error: () => undefined, warn: (_f, msg) => said.push(msg) });
    return said;
  };

  it("says once that DNS answers with the anonymous token when none is set, and nothing when one is", () => {
    expect(warnings(undefined)).toEqual([expect.stringContaining("DNS answers with the anonymous token: no service is visible until a dns token is set")]);
    expect(warnings({ dns: " " })).toHaveLength(1);
    expect(warnings({ dns: DNS_SECRET })).toEqual([]);
    expect(warnings({ default: DNS_SECRET })).toEqual([]);
  });

  it("falls back to the default token, and names the one that does not resolve", () => {
    const access = dnsAccess(noTokens, { default: DNS_SECRET }, { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined });
    expect(access.token).toBe(DNS_SECRET);
    expect(() => access.acl()).toThrow(/acl \{ tokens \{ default \} \}\) is not found/);
  });
});
