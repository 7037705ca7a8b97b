/**
 * The DNS interface of a server agent started in this process from a config file with
 * Consul's `dns_config`, asked with the real `dig`: the server itself as
 * `consul.service.consul` and the domain's name server, and the file's TTLs and truncation.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentConfigFromArgs } from "../cli/commands/agent.js";
import { startAgent, type RunningAgent } from "./index.js";

const exec = promisify(execFile);

async function dig(...args: string[]): Promise<string> {
  try {
    return (await exec("dig", ["@127.0.0.1", "-p", dnsPort, "+tries=1", "+time=5", ...args], { timeout: 20_000 })).stdout;
  } catch (err) {
    if ((err as { code?: unknown }).code === "ENOENT") throw new Error("dig is not installed: scripts/test-deps.sh installs it (Debian package dnsutils)", { cause: err });
    throw err;
  }
}

const CONFIG = `
acl { enabled = false }
tls { enabled = false }
dns_config {
  node_ttl         = "30s"
  service_ttl      = { "*" = "5s", "web" = "15s" }
  enable_truncate  = true
  udp_answer_limit = 2
  allow_stale      = true
}
`;

let dir = "";
let agent: RunningAgent | undefined;
let dnsPort = "";
let consul = "";
let notes: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-dns-agent-"));
  writeFileSync(join(dir, "dns.hcl"), CONFIG);
  const parsed = await agentConfigFromArgs(["-server", "-data-dir", join(dir, "data"), "-bind", "127.0.0.1", "-http-port", "0", "-consul-port", "0", "-dns-port", "0", "-node", "ruche-1", "-config", "dns.hcl"], dir);
  notes = parsed.notes;
  expect(parsed.config.dnsConfig).toEqual({ nodeTtlSeconds: 30, serviceTtlSeconds: { "*": 5, web: 15 }, enableTruncate: true, udpAnswerLimit: 2 });
  let out = "";
  agent = await startAgent({ ...parsed.config, logLevel: "error" }, (line) => (out += line));
  dnsPort = /DNS: +127\.0\.0\.1:(\d+)/.exec(out)?.[1] ?? "";
  consul = /Consul: +http:\/\/(\S+)/.exec(out)?.[1] ?? "";
  expect(dnsPort, out).not.toBe("");
  expect(consul, out).not.toBe("");
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("a server agent's DNS, configured by dns_config", () => {
  it("notes that allow_stale is how it always answers", () => {
    expect(notes.join("\n")).toMatch(/allow_stale = true/);
  });

  it("answers consul.service.consul and the domain's NS with the server itself", async () => {
    expect((await dig("+short", "consul.service.consul", "A")).trim()).toBe("127.0.0.1");
    const port = consul.split(":").at(-1) ?? "";
    expect((await dig("+short", "consul.service.consul", "SRV")).trim()).toBe(`1 1 ${port} ruche-1.node.dc1.consul.`);
    const ns = await dig("+noall", "+answer", "+additional", "consul", "NS");
    expect(ns).toMatch(/^consul\.\s+30\s+IN\s+NS\s+ruche-1\.node\.dc1\.consul\.$/m);
    expect(ns).toMatch(/^ruche-1\.node\.dc1\.consul\.\s+30\s+IN\s+A\s+127\.0\.0\.1$/m);
  });

  it("gives registered services the file's service_ttl and truncates over UDP as it says", async () => {
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`http://${consul}/v1/agent/service/register`, { method: "PUT", body: JSON.stringify({ ID: `web-${i}`, Name: "web", Address: `10.9.0.${i + 1}`, Port: 80 + i }) });
      expect(res.status, await res.text()).toBe(200);
    }
    const res = await fetch(`http://${consul}/v1/agent/service/register`, { method: "PUT", body: JSON.stringify({ ID: "api", Name: "api", Address: "10.9.1.1", Port: 90 }) });
    expect(res.status).toBe(200);

    const web = await dig("+noall", "+answer", "+tcp", "web.service.consul", "A");
    expect(web.trim().split("\n")).toHaveLength(5);
    expect(web).toMatch(/^web\.service\.consul\.\s+15\s+IN\s+A\s+10\.9\.0\.\d$/m);
    expect(await dig("+noall", "+answer", "api.service.consul", "A")).toMatch(/^api\.service\.consul\.\s+5\s+IN\s+A\s+10\.9\.1\.1$/m);

    const cut = await dig("+notcp", "+noedns", "+ignore", "web.service.consul", "A");
    expect(cut).toMatch(/;; flags: [^;]*\btc\b/);
    expect(cut).toMatch(/ANSWER: 2,/);
    const retried = await dig("+notcp", "+noedns", "web.service.consul", "A");
    expect(retried).toContain("Truncated, retrying in TCP mode");
    expect(retried).toMatch(/ANSWER: 5,/);
  });

  it("answers a service's and its prepared query's SRV records with its own address as target and its Weights", async () => {
    const reg = await fetch(`http://${consul}/v1/agent/service/register`, { method: "PUT", body: JSON.stringify({ ID: "heavy", Name: "heavy", Address: "10.9.2.1", Port: 70, Weights: { Passing: 7, Warning: 2 } }) });
    expect(reg.status, await reg.text()).toBe(200);
    expect((await dig("+short", "heavy.service.consul", "SRV")).trim()).toBe("1 7 70 0a090201.addr.dc1.consul.");
    const q = await fetch(`http://${consul}/v1/query`, { method: "POST", body: JSON.stringify({ Name: "heavy-q", Service: { Service: "heavy" } }) });
    expect(q.status, await q.text()).toBe(200);
    const srv = await dig("+noall", "+answer", "+additional", "heavy-q.query.consul", "SRV");
    // The query sets no TTL: its service's service_ttl, "*" here.
    expect(srv).toMatch(/^heavy-q\.query\.consul\.\s+5\s+IN\s+SRV\s+1 7 70 0a090201\.addr\.dc1\.consul\.$/m);
    expect(srv).toMatch(/^0a090201\.addr\.dc1\.consul\.\s+5\s+IN\s+A\s+10\.9\.2\.1$/m);
  });
});

describe("dns_config in an agent config file", () => {
  it("refuses what the DNS interface does not do, saying where", async () => {
    for (const [body, why] of [
      ["allow_stale = false", /allow_stale = false: .*consistent DNS reads are not built/],
      ['soa { min_ttl = 60 }', /soa: the SOA's timers/],
      ['recursor_timeout = "2s"', /does not recurse/],
      ["enable_additional_node_meta_txt = true", /no TXT records/],
      ["node_tll = \"1s\"", /unknown key "node_tll" in dns_config/],
    ] as const) {
      const file = join(dir, "bad.hcl");
      writeFileSync(file, `dns_config {\n  ${body}\n}\n`);
      await expect(agentConfigFromArgs(["-server", "-data-dir", join(dir, "bad"), "-config", "bad.hcl"], dir), body).rejects.toThrow(why);
    }
  });

  it("refuses a TTL that is not a duration and a wildcard inside a name", async () => {
    await expect(agentConfigFromArgs(["-server", "-data-dir", join(dir, "bad"), "-dns-node-ttl", "soon"], dir)).rejects.toThrow(/-dns-node-ttl must be a duration/);
    await expect(agentConfigFromArgs(["-server", "-data-dir", join(dir, "bad"), "-dns-service-ttl", "w*b=1s"], dir)).rejects.toThrow(/"\*" may only end a service name/);
    await expect(agentConfigFromArgs(["-server", "-data-dir", join(dir, "bad"), "-dns-udp-answer-limit", "0"], dir)).rejects.toThrow(/-dns-udp-answer-limit must be a whole number from 1/);
  });
});
