/**
 * Regions over mutual TLS, one CA for the federation, with real `ruche agent` processes, TLS
 * and ACLs on: `europe`'s server makes the cluster CA; a server join token of europe
 * (`join-token create -role server`) lets `us`'s first server, started with `-join-wan-token`
 * and `-retry-join-wan` europe, take up europe's CA (checked against the token's digest) and
 * the cluster key, so both regions' server certificates chain to one root and name their own
 * region. Both list both regions; a `?region=us` request through europe is answered by us with
 * us's token (europe's is not known there, and the refusal says tokens are per region), and a
 * job of region us run through europe lands in us only; the CA rotates in neither. A server of a third region, `mars`, that made a CA of its own is refused
 * both ways, said in the logs, never listed and never forwarded to.
 */
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fetchOver, tlsDispatcher } from "../../src/apiclient/index.js";
import { caDigest } from "../../src/pki/index.js";
import type { DialTls } from "../../src/structs/index.js";
import { ruche, sleeperJob, startAgentProcess, until, type AgentProcess } from "./harness.js";

let dir = "";
const started: AgentProcess[] = [];
let europe: AgentProcess | undefined;
let us: AgentProcess | undefined;
let mars: AgentProcess | undefined;
let euToken = "";
let usToken = "";

const caFile = (name: string): string => join(dir, name, "tls", "ca.pem");
/** The federation's CA (europe's), read once europe has made it. */
const trust: DialTls = {
  get ca(): string {
    return readFileSync(caFile("eu1"), "utf8");
  },
};
/** Mars's own CA. */
const trustMars: DialTls = {
  get ca(): string {
    return readFileSync(caFile("mars1"), "utf8");
  },
};

function serverArgs(name: string, region: string, dc: string): string[] {
  return ["-server", "-region", region, "-datacenter", dc, "-node", name, "-data-dir", join(dir, name), "-bind", "127.0.0.1", "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1", "-acl-enabled", "-tls-http"];
}

async function start(args: string[], tls: DialTls): Promise<AgentProcess> {
  const a = await startAgentProcess(args, {}, tls);
  started.push(a);
  return a;
}

/** One HTTPS request to an agent, trusting `tls`, with `token`. */
async function call(agent: AgentProcess | undefined, method: string, path: string, token = "", body?: unknown, tls: DialTls = trust): Promise<{ status: number; text: string }> {
  const d = tlsDispatcher(tls);
  try {
    const res = await fetchOver(d)(new URL(`https://${agent?.address ?? ""}${path}`), {
      method,
      headers: token === "" ? {} : { "X-Nomad-Token": token },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, text: await res.text() };
  } finally {
    await d.close();
  }
}

async function bootstrap(agent: AgentProcess, tls: DialTls = trust): Promise<string> {
  const r = await call(agent, "PUT", "/v1/acl/bootstrap", "", undefined, tls);
  expect(r.status, r.text).toBe(200);
  return (JSON.parse(r.text) as { SecretID: string }).SecretID;
}

async function regions(agent: AgentProcess | undefined, tls: DialTls = trust): Promise<string[]> {
  const r = await call(agent, "GET", "/v1/regions", "", undefined, tls);
  expect(r.status, r.text).toBe(200);
  return JSON.parse(r.text) as string[];
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-e2e-fedtls-"));
  europe = await start(serverArgs("eu1", "europe", "europe-west1"), trust);
  euToken = await bootstrap(europe);
  const made = await call(europe, "PUT", "/v1/operator/join-token", euToken, { Role: "server" });
  expect(made.status, made.text).toBe(200);
  const wanToken = (JSON.parse(made.text) as { Token: string }).Token;
  us = await start([...serverArgs("us1", "us", "us-west-2"), "-retry-join-wan", europe.address, "-join-wan-token", wanToken, "-log-level", "info"], trust);
  usToken = await bootstrap(us);
}, 90_000);

afterAll(async () => {
  for (const a of started.reverse()) await a.stop(10_000);
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe("two regions over mutual TLS, the second joined to the first's CA", () => {
  it("us took up europe's CA: one root, each server's certificate naming its own region", () => {
    const root = readFileSync(caFile("eu1"), "utf8");
    expect(readFileSync(caFile("us1"), "utf8")).toBe(root);
    expect(us?.err()).toMatch(/took up the federation's CA from another region/);
    const usCert = new X509Certificate(readFileSync(join(dir, "us1", "tls", "server.pem"), "utf8"));
    expect(usCert.checkIssued(new X509Certificate(root))).toBe(true);
    expect(usCert.subjectAltName).toContain("DNS:server.us.ruche");
    expect(usCert.subjectAltName).not.toContain("server.europe.ruche");
    expect(caDigest(root)).toMatch(/^[0-9a-f]{64}$/);
  });

  it("both regions list both, through retry_join_wan over mutual TLS", async () => {
    await until("europe knows us", async () => ((await regions(europe)).includes("us") ? true : undefined), 30_000);
    await until("us knows europe", async () => ((await regions(us)).includes("europe") ? true : undefined), 30_000);
    expect(await regions(europe)).toEqual(["europe", "us"]);
    expect(await regions(us)).toEqual(["europe", "us"]);
    const m = await call(europe, "GET", "/v1/agent/members", euToken);
    expect(m.status, m.text).toBe(200);
    const members = (JSON.parse(m.text) as { Members: { Name: string; Status: string }[] }).Members;
    expect(members.find((x) => x.Name === "us1.us")?.Status).toBe("alive");
  }, 70_000);

  it("a ?region=us request through europe is answered by us, with us's token; europe's token is refused there, saying tokens are per region", async () => {
    const self = await call(europe, "GET", "/v1/acl/token/self?region=us", usToken);
    expect(self.status, self.text).toBe(200);
    expect((JSON.parse(self.text) as { SecretID: string }).SecretID).toBe(usToken);
    const jobs = await call(europe, "GET", "/v1/jobs?region=us", usToken);
    expect(jobs.status, jobs.text).toBe(200);
    expect(JSON.parse(jobs.text)).toEqual([]);
    const refused = await call(europe, "GET", "/v1/jobs?region=us", euToken);
    expect(refused.status).toBe(403);
    expect(refused.text).toMatch(/ACL token not found \(this request was forwarded by eu1\.europe from another region: ACL tokens are per region and not replicated between regions, so it needs a token of region \\"us\\"/);
  });

  it("a job whose region is us, run through europe with the CLI, is registered in us only", async () => {
    writeFileSync(join(dir, "fed.hcl"), sleeperJob("fed", "service", 1, "").replace('datacenters = ["dc1"]', 'region      = "us"\n  datacenters = ["us-west-2"]'));
    const run = await ruche(europe?.address ?? "", dir, "job", "run", "-detach", "fed.hcl", "-ca-cert", caFile("eu1"), "-token", usToken);
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    const there = await call(us, "GET", "/v1/job/fed", usToken);
    expect(there.status, there.text).toBe(200);
    expect((JSON.parse(there.text) as { Region: string }).Region).toBe("us");
    expect((await call(europe, "GET", "/v1/job/fed", euToken)).status).toBe(404);
  });

  it("the federation's CA rotates in neither region, said", async () => {
    for (const [agent, token] of [[us, usToken], [europe, euToken]] as const) {
      const r = await call(agent, "PUT", "/v1/operator/tls/ca/rotate", token);
      expect(r.status, r.text).toBe(409);
      expect(r.text).toMatch(/the cluster CA is the federation's, shared with other regions.*nothing was changed/);
    }
  });

  it("a server of a third region with another CA is refused both ways, never listed, never forwarded to", async () => {
    const eu = europe as AgentProcess;
    mars = await start([...serverArgs("mars1", "mars", "mars-1"), "-retry-join-wan", eu.address], trustMars);
    expect(readFileSync(caFile("mars1"), "utf8")).not.toBe(readFileSync(caFile("eu1"), "utf8"));
    // Mars asks europe: europe's certificate is not of mars's CA (and mars's is refused by europe's listener).
    await until("mars says it refused europe", () => (/federation: refused the server at .*its certificate is signed by a CA this client does not trust.*it is not a server of this federation/.test(mars?.err() ?? "") ? true : undefined), 30_000);
    // Europe asked to join mars: refused, said in the answer and in europe's log.
    const j = await call(eu, "PUT", `/v1/agent/join?address=${encodeURIComponent(mars.address)}`, euToken);
    expect(j.status, j.text).toBe(200);
    const joined = JSON.parse(j.text) as { num_joined: number; error: string };
    expect(joined.num_joined).toBe(0);
    expect(joined.error).toMatch(/not a server of this federation/);
    expect(eu.err()).toMatch(/federation: refused the server at 127\.0\.0\.1:\d+: its certificate is signed by a CA this client does not trust/);
    // A few rounds later, still neither lists the other, and nothing is sent to mars.
    await new Promise((r) => setTimeout(r, 5000));
    expect(await regions(europe)).toEqual(["europe", "us"]);
    expect(await regions(us)).toEqual(["europe", "us"]);
    expect(await regions(mars, trustMars)).toEqual(["mars"]);
    const none = await call(europe, "GET", "/v1/jobs?region=mars", euToken);
    expect(none.status).toBe(400);
    expect(none.text).toMatch(/No path to region \\"mars\\"/);
  }, 90_000);
});
