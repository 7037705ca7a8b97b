/**
 * The cluster's own PKI with real `ruche agent` processes: a server with TLS on and no
 * certificate files makes its CA and its certificate in its data dir; the CLI on it trusts
 * that CA and makes a join token; a client-only agent joins with the token over TLS (the
 * server's CA checked against the token's digest first), registers over mutual TLS and runs
 * a raw_exec job. A token whose digest names another CA, and a revoked token, stop the agent
 * with the join's message.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DialTls } from "../../src/structs/index.js";
import { ruche, sleeperJob, startAgentProcess, until, type AgentProcess } from "./harness.js";

let dir = "";
let server: AgentProcess | undefined;
const agents: AgentProcess[] = [];
// About TLS: ACLs are off here on purpose (the penetration suite and the README's production section run with them).
const common = ["-acl-enabled=false", "-bind", "127.0.0.1", "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1"];
const caFile = (): string => join(dir, "server", "tls", "ca.pem");
/** The server's CA as the test trusts it: read once the server has made it (the harness asks again until it has). */
const trust: DialTls = {
  get ca(): string {
    return readFileSync(caFile(), "utf8");
  },
};

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  return ruche(server?.address ?? "", dir, argv[0] ?? "", argv[1] ?? "", "-ca-cert", caFile(), ...argv.slice(2));
}

async function newToken(): Promise<string> {
  const r = await cli("join-token", "create", "-role", "client", "-quiet");
  expect(r.err).toBe("");
  return r.out.trim();
}

function client(name: string, token: string): Promise<AgentProcess> {
  return startAgentProcess(["-client", "-servers", server?.address ?? "", "-data-dir", join(dir, name), "-node", name, "-raw-exec", ...common, "-join-token", token], {}, trust);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-e2e-join-"));
  server = await startAgentProcess(["-server", "-data-dir", join(dir, "server"), ...common, "-tls-http"], {}, trust);
}, 60_000);

afterAll(async () => {
  // A task outlives its agent (as it does an agent restart): the job is stopped first, while its node runs.
  if (server !== undefined && agents.length > 0) {
    await cli("job", "stop", "sleepy");
    await until("the job's task stopped", async () => ((await cli("job", "status", "sleepy")).out.split("Allocations")[1] ?? "").includes("running") ? undefined : true, 20_000);
  }
  for (const a of agents) await a.stop();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("the cluster's own PKI", () => {
  it("gives a server with TLS on and no files its CA and certificate, and a node joins with a token and runs a job", async () => {
    expect(server?.out()).toMatch(/^ {4}API: +https:\/\//m);
    expect(statSync(join(dir, "server", "tls", "server-key.pem")).mode & 0o777).toBe(0o600);
    const token = await newToken();
    expect(token).toMatch(/^RUCHE-1-/);
    const node = await client("joined", token);
    agents.push(node);
    // The node keeps what it joined with: its key to itself.
    expect(readFileSync(join(dir, "joined", "tls", "ca.pem"), "utf8")).toBe(readFileSync(caFile(), "utf8"));
    expect(statSync(join(dir, "joined", "tls", "node-key.pem")).mode & 0o777).toBe(0o600);
    const job = sleeperJob("sleepy", "service", 1, "").replace('command = "/bin/sleep"\n        args    = ["3600"]', 'command = "/bin/sh"\n        args    = ["-c", "echo hello from the joined node; exec sleep 3600"]');
    expect(job).toContain("hello from the joined node");
    writeFileSync(join(dir, "sleepy.hcl"), job);
    const run = await cli("job", "run", "-detach", "sleepy.hcl");
    expect(run.err).toBe("");
    const allocId = await until("the job's allocation running on the joined node", async () => {
      const r = await cli("job", "status", "sleepy");
      return /^([0-9a-f]{8})\s.*running/m.exec(r.out.split("Allocations")[1] ?? "")?.[1];
    }, 30_000);
    // The task's log comes from the node's own API, which only a server's certificate of the cluster's CA may call.
    const logs = await until("the task's log through the server", async () => {
      const r = await cli("alloc", "logs", allocId);
      return r.out.includes("hello from the joined node") ? r : undefined;
    }, 15_000);
    expect(logs.code).toBe(0);
  }, 60_000);

  it("starts a joined node again with its kept certificate, no token needed", async () => {
    const first = agents.shift();
    expect(await first?.stop()).toBe(true);
    const again = await startAgentProcess(["-client", "-servers", server?.address ?? "", "-data-dir", join(dir, "joined"), "-node", "joined", "-raw-exec", ...common, "-tls-http"], {}, trust);
    agents.push(again);
    expect(again.out()).toMatch(/^ {4}API: +https:\/\//m);
  }, 40_000);

  it("refuses a token whose digest names another CA before sending its secret, saying so", async () => {
    const token = await newToken();
    const parts = token.split("-");
    const digest = parts[2] ?? "";
    parts[2] = digest.slice(0, -1) + (digest.endsWith("0") ? "1" : "0");
    await expect(client("forged", parts.join("-"))).rejects.toThrow(/does not match the join token's .*not sending the token's secret/);
    expect(existsSync(join(dir, "forged", "tls", "node.pem"))).toBe(false);
  }, 40_000);

  it("refuses a revoked token with the server's message", async () => {
    const made = await cli("join-token", "create", "-role", "client", "-json");
    const { ID, Token } = JSON.parse(made.out) as { ID: string; Token: string };
    expect((await cli("join-token", "revoke", ID)).code).toBe(0);
    await expect(client("revoked", Token)).rejects.toThrow(/was revoked/);
    expect(existsSync(join(dir, "revoked", "tls", "node.pem"))).toBe(false);
  }, 40_000);
});
