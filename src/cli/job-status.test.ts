/**
 * `job status` as Nomad prints it, against a real server in this process (memory backend,
 * the HTTP API on port 0 of 127.0.0.1) and a simulated node (mock driver): a stopped job
 * reads "dead (stopped)", and `-json` prints Nomad's list of `JobJson` objects.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApi, type RunningHttp } from "../api/index.js";
import { ApiClient, httpTransport } from "../apiclient/index.js";
import { SimulatedNode } from "../client/index.js";
import { Server } from "../server/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { silentLogger } from "../structs/index.js";
import { runCli, type IO } from "./index.js";

let store: StateStore;
let server: Server;
let http: RunningHttp;
let api: ApiClient;
let sim: SimulatedNode;
let dir = "";

const job = (id: string): string => `job "${id}" {
  datacenters = ["dc1"]
  group "g" {
    task "t" {
      driver = "mock"
      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
`;

beforeAll(async () => {
  store = await StateStore.open(memoryBackend());
  server = new Server(store);
  server.start();
  http = await startApi(server, store, { host: "127.0.0.1", port: 0, log: silentLogger });
  api = new ApiClient(http.address);
  sim = new SimulatedNode(httpTransport(api), { id: "6c1a0000-0000-4000-8000-0000000000aa", name: "solo" });
  await sim.start();
  dir = mkdtempSync(join(tmpdir(), "ruche-job-status-"));
  for (const id of ["alpha", "beta"]) writeFileSync(join(dir, `${id}.hcl`), job(id));
});

afterAll(async () => {
  await sim.kill();
  await http.close();
  await server.stop();
});

async function ruche(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const io: IO = { out: (t) => (out += t), err: (t) => (err += t), env: { RUCHE_ADDR: http.address }, cwd: dir };
  const code = await runCli(argv, io);
  return { code, out, err };
}

async function runningAlloc(id: string): Promise<void> {
  let index = 0;
  for (;;) {
    const r = await api.jobAllocations(id, { index, wait: "5s" });
    if (r.body.some((a) => a.ClientStatus === "running")) return;
    index = r.index;
  }
}

describe("job status", () => {
  it("prints -json as Nomad's list of JobJson: Summary, Allocations, LatestDeployment, Evaluations", async () => {
    expect((await ruche("job", "status", "-json")).out).toBe("No running jobs\n");
    for (const id of ["alpha", "beta"]) expect((await ruche("job", "run", "-detach", `${id}.hcl`)).code).toBe(0);
    await runningAlloc("alpha");
    await runningAlloc("beta");

    const one = await ruche("job", "status", "-json", "alpha");
    expect(one.code).toBe(0);
    const list = JSON.parse(one.out) as Record<string, unknown>[];
    expect(Array.isArray(list)).toBe(true);
    expect(list).toHaveLength(1);
    const j = list[0]!;
    expect(Object.keys(j)).toEqual(["Summary", "Allocations", "LatestDeployment", "Evaluations"]);
    expect(j.Summary).toMatchObject({ JobID: "alpha", Namespace: "default", Summary: { g: { Running: 1 } } });
    const allocs = j.Allocations as { JobID: string; ClientStatus: string; CreateTime: number }[];
    expect(allocs.map((a) => [a.JobID, a.ClientStatus])).toEqual([["alpha", "running"]]);
    // Nomad's wire form: CreateTime in nanoseconds, not Ruche's milliseconds.
    expect(allocs[0]!.CreateTime).toBeGreaterThan(Date.now() * 1e5);
    expect(j.LatestDeployment).toMatchObject({ JobID: "alpha", TaskGroups: { g: { RequireProgressBy: expect.any(String) as unknown } } });
    expect((j.Evaluations as { JobID: string }[]).length).toBeGreaterThanOrEqual(1);
    expect((j.Evaluations as { JobID: string }[]).every((e) => e.JobID === "alpha")).toBe(true);

    const all = JSON.parse((await ruche("job", "status", "-json")).out) as { Summary: { JobID: string } }[];
    expect(all.map((x) => x.Summary.JobID).sort()).toEqual(["alpha", "beta"]);
  });

  it("shows a stopped job as \"dead (stopped)\", in the list and in its header, as Nomad", async () => {
    expect((await ruche("job", "stop", "-detach", "beta")).code).toBe(0);
    const list = await ruche("job", "status");
    expect(list.out).toMatch(/^beta +service +50 +dead \(stopped\) +/m);
    expect(list.out).toMatch(/^alpha +service +50 +running +/m);
    const header = await ruche("job", "status", "-short", "beta");
    expect(header.out).toMatch(/^Status += dead \(stopped\)$/m);
  });
});
