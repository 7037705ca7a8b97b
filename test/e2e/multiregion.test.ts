/**
 * A multiregion job (Nomad Enterprise's `multiregion` block, built here) across two regions,
 * each one agent process that is both its region's server and a client with raw_exec, TLS and
 * ACLs off, us federated to europe with `-retry-join-wan`. One `ruche job run` through europe
 * registers a copy in each region at one version; with `max_parallel = 1` europe deploys
 * while us waits, pending, then us; both end successful, and `ruche job status` shows each
 * region's deployment. Version 1's canary fails in us alone (its task exits there): us's
 * deployment fails, and with `on_failure = "fail_all"` europe's (done, blocked) fails too.
 * `ruche alloc exec -region us` through europe runs in us's allocation (the WebSocket relayed);
 * `ruche job stop -global` stops it in both.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentProcess, NO_ACL_NO_TLS, ruche, startAgentProcess, until } from "./harness.js";

let dir = "";
let europe: AgentProcess | undefined;
let us: AgentProcess | undefined;

function regionArgs(name: string, region: string, dc: string): string[] {
  return [...NO_ACL_NO_TLS, "-server", "-client", "-raw-exec", "-bind", "127.0.0.1", "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1", "-node", name, "-region", region, "-datacenter", dc, "-data-dir", join(dir, name)];
}

function agent(a: AgentProcess | undefined): AgentProcess {
  if (a === undefined) throw new Error("the agent did not start");
  return a;
}

async function get<T>(address: string, path: string): Promise<T> {
  const res = await fetch(`http://${address}${path}`);
  const text = await res.text();
  if (!res.ok) throw new Error(`GET ${path} on ${address}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

interface Deployment {
  ID: string;
  JobVersion: number;
  Status: string;
  StatusDescription: string;
  IsMultiregion: boolean;
}

/** The job's deployment of `version` in the region `a` serves, or undefined. */
async function deployment(a: AgentProcess, version: number): Promise<Deployment | undefined> {
  const res = await fetch(`http://${a.address}/v1/job/web/deployments`);
  if (res.status === 404) return undefined;
  return ((await res.json()) as Deployment[]).find((d) => d.JobVersion === version);
}

/**
 * The job file: a raw_exec sleeper, its group's count 0 (each region's count applies), a canary
 * and auto_promote; `exit` is what its command does first: "" for nothing, or a shell line
 * (version 1 exits in us alone, read from NOMAD_REGION).
 */
function jobFile(first: string): string {
  return `job "web" {
  type = "service"

  multiregion {
    strategy {
      max_parallel = 1
      on_failure   = "fail_all"
    }
    region "europe" {
      count       = 1
      datacenters = ["europe-west1"]
    }
    region "us" {
      count       = 2
      datacenters = ["us-west-2"]
    }
  }

  update {
    max_parallel      = 1
    canary            = 1
    auto_promote      = true
    min_healthy_time  = "2s"
    healthy_deadline  = "20s"
    progress_deadline = "40s"
  }

  group "web" {
    count = 0

    restart {
      attempts = 0
      mode     = "fail"
    }

    task "sleeper" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "${first}exec sleep 3600"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-multiregion-e2e-"));
  europe = await startAgentProcess(regionArgs("eu-1", "europe", "europe-west1"));
  us = await startAgentProcess([...regionArgs("us-1", "us", "us-west-2"), "-retry-join-wan", europe.address]);
  for (const a of [europe, us]) {
    await until(`${a.address} knows both regions`, async () => (JSON.stringify(await get<string[]>(a.address, "/v1/regions")) === '["europe","us"]' ? true : undefined));
  }
  writeFileSync(join(dir, "web-v0.hcl"), jobFile(""));
  writeFileSync(join(dir, "web-v1.hcl"), jobFile('[ \\"$NOMAD_REGION\\" = us ] && exit 1; '));
}, 90_000);

afterAll(async () => {
  await Promise.all([us?.stop(), europe?.stop()]);
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe("a multiregion job across europe and us", () => {
  it("one job run through europe: europe deploys while us waits, then us; both successful", async () => {
    const eu = agent(europe);
    const u = agent(us);
    const run = await ruche(eu.address, dir, "job", "run", "web-v0.hcl");
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    // As Nomad's CLI: a multiregion job is not followed.
    expect(run.out).toMatch(/^Job registration successful\nEvaluation ID: [0-9a-f-]{36}\n$/);
    // Each region holds its copy, at version 0, with its region's datacenters and count.
    const euJob = await get<{ Region: string; Version: number; Datacenters: string[]; TaskGroups: { Count: number }[] }>(eu.address, "/v1/job/web");
    const usJob = await get<{ Region: string; Version: number; Datacenters: string[]; TaskGroups: { Count: number }[] }>(u.address, "/v1/job/web");
    expect(euJob).toMatchObject({ Region: "europe", Version: 0, Datacenters: ["europe-west1"], TaskGroups: [{ Count: 1 }] });
    expect(usJob).toMatchObject({ Region: "us", Version: 0, Datacenters: ["us-west-2"], TaskGroups: [{ Count: 2 }] });

    // Watch both regions' deployments until both are successful: us never runs before europe is done.
    const seen: string[] = [];
    await until(
      "both regions' deployments successful",
      async () => {
        const [e, s] = await Promise.all([deployment(eu, 0), deployment(u, 0)]);
        const pair = `${e?.Status ?? "none"}/${s?.Status ?? "none"}`;
        if (seen.at(-1) !== pair) seen.push(pair);
        return e?.Status === "successful" && s?.Status === "successful" ? true : undefined;
      },
      90_000,
    );
    expect(seen.some((p) => /^(running|none|pending)\/running$/.test(p)), seen.join(" ")).toBe(false);
    expect(seen.some((p) => p === "running/pending"), seen.join(" ")).toBe(true);
    expect((await deployment(u, 0))?.IsMultiregion).toBe(true);
    const usAllocs = await get<{ ID: string; ClientStatus: string }[]>(u.address, "/v1/job/web/allocations");
    expect(usAllocs.filter((a) => a.ClientStatus === "running")).toHaveLength(2);

    // alloc exec in a us allocation through europe: the WebSocket is relayed to us's server.
    const inUs = usAllocs.find((a) => a.ClientStatus === "running")?.ID ?? "";
    const ex = await ruche(eu.address, dir, "alloc", "exec", "-region", "us", inUs, "/bin/sh", "-c", "echo in $NOMAD_REGION; exit 3");
    expect(ex.out).toBe("in us\n");
    expect(ex.code).toBe(3);

    // job status through europe shows each region's deployment of the version.
    const status = await ruche(eu.address, dir, "job", "status", "web");
    expect(status.code).toBe(0);
    expect(status.out).toMatch(/Multiregion Deployment\nRegion +ID +Status\neurope +[0-9a-f]{8} +successful\nus +[0-9a-f]{8} +successful\n/);
  }, 150_000);

  it('version 1 fails its canary in us: us fails, and on_failure = "fail_all" fails europe', async () => {
    const eu = agent(europe);
    const u = agent(us);
    const run = await ruche(eu.address, dir, "job", "run", "web-v1.hcl");
    expect(run.code, run.err).toBe(0);
    expect((await get<{ Version: number }>(u.address, "/v1/job/web")).Version).toBe(1);
    const usFailed = await until("us's deployment of version 1 failed", async () => {
      const d = await deployment(u, 1);
      return d?.Status === "failed" ? d : undefined;
    }, 120_000);
    expect(usFailed.StatusDescription).toMatch(/^Failed due to (unhealthy allocations|progress deadline)/);
    const euFailed = await until("europe's deployment of version 1 failed by its peer", async () => {
      const d = await deployment(eu, 1);
      return d?.Status === "failed" ? d : undefined;
    }, 60_000);
    expect(euFailed.StatusDescription).toBe("Failed because of an error in peer region");
    const st = await ruche(eu.address, dir, "deployment", "status", euFailed.ID);
    expect(st.out).toMatch(/Multiregion Deployment\nRegion +ID +Status\neurope +[0-9a-f]{8} +failed\nus +[0-9a-f]{8} +failed\n/);
  }, 180_000);

  it("job stop -global stops it in both regions; ?region=mars still answers No path", async () => {
    const eu = agent(europe);
    const stop = await ruche(eu.address, dir, "job", "stop", "-global", "-detach", "web");
    expect(stop.code, stop.err).toBe(0);
    for (const a of [eu, agent(us)]) {
      const j = await get<{ Stop: boolean }>(a.address, "/v1/job/web");
      expect(j.Stop).toBe(true);
    }
    const mars = await fetch(`http://${eu.address}/v1/jobs?region=mars`);
    expect(mars.status).toBe(400);
  }, 60_000);
});
