/**
 * The CLI as a Nomad user types it, against a real server in this process: the state store
 * (memory backend), the server's workers and the HTTP API on port 0 of 127.0.0.1, and two
 * simulated nodes (mock driver). The CLI runs in-process through `runCli`. Where what the
 * CLI sends cannot be seen in the answer (`?region=`, which the servers do not act on), a
 * plain HTTP server on port 0 records the requests.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApi, type RunningHttp } from "../api/index.js";
import { ApiClient, httpTransport, type AllocStub } from "../apiclient/index.js";
import { KVService, LockDelays, StoreCatalog } from "../catalog/index.js";
import { SimulatedNode } from "../client/index.js";
import { Server } from "../server/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { silentLogger, type Job } from "../structs/index.js";
import { EXAMPLE_JOB, EXAMPLE_JOB_SHORT } from "./commands/job-init-examples.js";
import { rucheVersion } from "./commands/version.js";
import { parseArgs } from "./args.js";
import { runCli, type IO } from "./index.js";
import { cliTls, TLS_FLAGS } from "./tls.js";

let store: StateStore;
let server: Server;
let http: RunningHttp;
let api: ApiClient;
let dir = "";
const sims: SimulatedNode[] = [];

const NODES = [
  { id: "6c1a0000-0000-4000-8000-000000000001", name: "one" },
  { id: "6c1a0000-0000-4000-8000-000000000002", name: "two" },
];

const WEB = `job "web" {
  datacenters = ["dc1"]
  group "g" {
    count = 2
    network {
      port "http" {
        to = 8080
      }
      port "admin" {
        static = 9901
      }
    }
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
  // The agent's own node is the first one: what `node status -self` finds in /v1/agent/self.
  const localNode = NODES[0]?.id;
  http = await startApi(server, store, { host: "127.0.0.1", port: 0, log: silentLogger, consul: { catalog: new StoreCatalog(store, "dc1", silentLogger), localNode: () => localNode, version: "1.17.0", kv: new KVService(store, { now: Date.now, delays: new LockDelays() }) } });
  api = new ApiClient(http.address);
  for (const n of NODES) {
    const s = new SimulatedNode(httpTransport(api), n);
    await s.start();
    sims.push(s);
  }
  dir = mkdtempSync(join(tmpdir(), "ruche-nomad-habits-"));
  writeFileSync(join(dir, "web.hcl"), WEB);
});

afterAll(async () => {
  await Promise.all(sims.map((s) => s.kill()));
  await http.close();
  await server.stop();
});

async function cli(argv: string[], env: Record<string, string> = { RUCHE_ADDR: http.address }, cwd = dir): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const io: IO = { out: (t) => (out += t), err: (t) => (err += t), env, cwd };
  const code = await runCli(argv, io);
  return { code, out, err };
}

function ruche(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  return cli(argv);
}

/** The job's allocations once `n` of them run, by blocking queries on the API's index. */
async function running(job: string, n: number): Promise<AllocStub[]> {
  let index = 0;
  for (;;) {
    const r = await api.jobAllocations(job, { index, wait: "5s" });
    const live = r.body.filter((a) => a.DesiredStatus === "run" && a.ClientStatus === "running");
    if (live.length >= n) return live;
    index = r.index;
  }
}

describe("version", () => {
  it("prints Ruche's version as nomad version prints Nomad's, for the command and -version/--version", async () => {
    expect(rucheVersion()).toMatch(/^\d+\.\d+\.\d+/);
    for (const argv of [["version"], ["-version"], ["--version"]]) {
      expect(await cli(argv, {})).toEqual({ code: 0, out: `Ruche v${rucheVersion()}\n`, err: "" });
    }
  });
});

describe("a mistyped command", () => {
  it("suggests the nearest command", async () => {
    const r = await cli(["job", "stauts", "web"], {});
    expect(r.code).toBe(1);
    expect(r.err.split("\n")[0]).toBe("unknown command: job stauts; did you mean job status?");
    expect((await cli(["alloc", "stauts"], {})).err.split("\n")[0]).toBe("unknown command: alloc stauts; did you mean alloc status?");
    expect((await cli(["verison"], {})).err.split("\n")[0]).toBe("unknown command: verison; did you mean version?");
    // Nothing near: no guess.
    expect((await cli(["frobnicate", "x"], {})).err.split("\n")[0]).toBe("unknown command: frobnicate x");
  });
});

describe("job init", () => {
  it("writes Nomad's example job, word for word, once; -short writes the short one; both validate", async () => {
    const d = mkdtempSync(join(tmpdir(), "ruche-job-init-"));
    expect(await cli(["job", "init"], {}, d)).toEqual({ code: 0, out: "Example job file written to example.nomad.hcl\n", err: "" });
    expect(readFileSync(join(d, "example.nomad.hcl"), "utf8")).toBe(EXAMPLE_JOB);
    // A file already there is left alone.
    expect(await cli(["job", "init"], {}, d)).toEqual({ code: 1, out: "", err: "Error: Job 'example.nomad.hcl' already exists\n" });
    expect(await cli(["init", "-short", "short.nomad.hcl"], {}, d)).toEqual({ code: 0, out: "Example job file written to short.nomad.hcl\n", err: "" });
    expect(readFileSync(join(d, "short.nomad.hcl"), "utf8")).toBe(EXAMPLE_JOB_SHORT);
    for (const f of ["example.nomad.hcl", "short.nomad.hcl"]) expect(await cli(["job", "validate", f], {}, d)).toEqual({ code: 0, out: "Job validation successful\n", err: "" });
    // What Ruche has no example for is refused in one line, and writes nothing.
    const connect = await cli(["job", "init", "-connect", "c.nomad.hcl"], {}, d);
    expect(connect.code).toBe(1);
    expect(connect.err).toMatch(/^Error: -connect is refused: [^\n]*Consul Connect[^\n]*\n$/);
    expect(existsSync(join(d, "c.nomad.hcl"))).toBe(false);
  });
});

describe("job run -output", () => {
  it("prints the job as JSON, as the API would receive it, four spaces indented, and registers nothing", async () => {
    const r = await ruche("job", "run", "-output", "web.hcl");
    expect(r.code).toBe(0);
    expect(r.err).toBe("");
    expect(r.out.startsWith('{\n    "Job": {\n        "')).toBe(true);
    const job = (JSON.parse(r.out) as { Job: Job }).Job;
    expect(job.ID).toBe("web");
    expect(job.TaskGroups[0]?.Count).toBe(2);
    await expect(api.job("web")).rejects.toMatchObject({ status: 404 });
  });
});

describe("the environment Nomad's CLI reads", () => {
  it("NOMAD_ADDR finds the API when RUCHE_ADDR is not set", async () => {
    expect(await cli(["status"], { NOMAD_ADDR: http.address })).toEqual({ code: 0, out: "No running jobs\n", err: "" });
  });

  it("sends -region / NOMAD_REGION and the default namespace as query parameters, as Nomad's client does; RUCHE_ADDR wins over NOMAD_ADDR", async () => {
    const seen: string[] = [];
    const tokens: (string | undefined)[] = [];
    const rec: HttpServer = createServer((req, res) => {
      seen.push(req.url ?? "");
      tokens.push(req.headers["x-nomad-token"] as string | undefined);
      res.setHeader("content-type", "application/json");
      res.end("[]");
    });
    await new Promise<void>((resolve) => rec.listen(0, "127.0.0.1", resolve));
    try {
      const at = `127.0.0.1:${(rec.address() as AddressInfo).port}`;
      expect(await cli(["job", "status"], { NOMAD_ADDR: at, NOMAD_REGION: "europe", NOMAD_NAMESPACE: "default" })).toEqual({ code: 0, out: "No running jobs\n", err: "" });
      // "*", every namespace, is sent as it is.
      expect(await cli(["job", "status", "-region", "asia"], { NOMAD_ADDR: at, NOMAD_REGION: "europe", NOMAD_NAMESPACE: "*" })).toMatchObject({ code: 0 });
      expect(await cli(["job", "status"], { RUCHE_ADDR: at, NOMAD_ADDR: http.address, NOMAD_TOKEN: "5ec2e7a1-0000-4000-8000-000000000000" })).toMatchObject({ code: 0 });
      expect(seen).toEqual(["/v1/jobs?region=europe&namespace=default", "/v1/jobs?region=asia&namespace=*", "/v1/jobs"]);
      expect(tokens).toEqual([undefined, undefined, "5ec2e7a1-0000-4000-8000-000000000000"]);
    } finally {
      await new Promise((resolve) => rec.close(resolve));
    }
  });

  it("NOMAD_TLS_SERVER_NAME names the API's certificate, after RUCHE_TLS_SERVER_NAME", () => {
    const none = parseArgs([], TLS_FLAGS);
    expect(cliTls(none, { NOMAD_TLS_SERVER_NAME: "server.global.nomad" }, dir)).toEqual({ serverName: "server.global.nomad" });
    expect(cliTls(none, { RUCHE_TLS_SERVER_NAME: "a", NOMAD_TLS_SERVER_NAME: "b" }, dir)).toEqual({ serverName: "a" });
  });

  it("acts in the namespace -namespace or NOMAD_NAMESPACE names", async () => {
    for (const [argv, env] of [
      [["job", "status"], { RUCHE_ADDR: http.address, NOMAD_NAMESPACE: "prod" }],
      [["job", "status", "-namespace", "prod"], { RUCHE_ADDR: http.address }],
    ] as const) {
      expect(await cli([...argv], { ...env })).toEqual({ code: 0, out: "No running jobs\n", err: "" });
    }
  });
});

describe("commands against a running job", () => {
  let allocs: AllocStub[] = [];

  beforeAll(async () => {
    expect(await ruche("job", "run", "-detach", "web.hcl")).toMatchObject({ code: 0, err: "" });
    allocs = await running("web", 2);
  });

  it("job allocs lists the job's allocations as Nomad's table", async () => {
    const r = await ruche("job", "allocs", "we");
    expect(r).toMatchObject({ code: 0, err: "" });
    const [head = "", ...rows] = r.out.trimEnd().split("\n");
    expect(head.split(/ {2,}/)).toEqual(["ID", "Node ID", "Task Group", "Version", "Desired", "Status", "Created", "Modified"]);
    expect(rows.map((l) => l.split(/ {2,}/)[0]).sort()).toEqual(allocs.map((a) => a.ID.slice(0, 8)).sort());
    const json = JSON.parse((await ruche("job", "allocs", "-json", "web")).out) as AllocStub[];
    expect(json.map((a) => a.ID).sort()).toEqual((await api.jobAllocations("web")).body.map((a) => a.ID).sort());
    expect(await ruche("job", "allocs")).toMatchObject({ code: 1, err: expect.stringContaining("This command takes one argument: <job>") as unknown });
  });

  it("eval list shows Nomad's columns, filtered by -job and -status", async () => {
    const r = await ruche("eval", "list", "-job", "web");
    expect(r).toMatchObject({ code: 0, err: "" });
    const [head = "", first = ""] = r.out.split("\n");
    expect(head.split(/ {2,}/)).toEqual(["ID", "Priority", "Triggered By", "Job ID", "Namespace", "Node ID", "Status", "Placement Failures"]);
    const cells = first.split(/ {2,}/);
    expect(cells).toEqual([expect.stringMatching(/^[0-9a-f]{8}$/), "50", "job-register", "web", "default", "complete", "false"]);
    expect(await ruche("eval", "list", "-status", "nosuch")).toEqual({ code: 0, out: "No evals found\n", err: "" });
  });

  it("status resolves an ID or its start to a job, an allocation, a node or an evaluation; -short shows a job's header", async () => {
    const list = await ruche("status");
    expect(list).toMatchObject({ code: 0, err: "" });
    expect(list.out).toMatch(/^ID +Type +Priority +Status +Submit Date\nweb +service +50 +running /);

    const job = await ruche("status", "web");
    expect(job.out).toContain("\nSummary\n");
    const short = await ruche("status", "-short", "web");
    expect(short).toMatchObject({ code: 0, err: "" });
    expect(short.out).toMatch(/^ID += web\n/);
    expect(short.out).not.toContain("Summary");
    expect(short.out).not.toContain("Allocations");

    const alloc = allocs[0]?.ID ?? "";
    const a = await ruche("status", alloc.slice(0, 8));
    expect(a).toMatchObject({ code: 0, err: "" });
    expect(a.out).toMatch(new RegExp(`^ID +\\= ${alloc.slice(0, 8)}\\n`));
    expect(a.out).toContain("Client Status");

    const n = await ruche("status", NODES[1]?.id ?? "");
    expect(n).toMatchObject({ code: 0, err: "" });
    expect(n.out).toContain("two");

    const ev = (await api.jobEvaluations("web")).body[0]?.ID ?? "";
    const e = await ruche("status", ev.slice(0, 10));
    expect(e).toMatchObject({ code: 0, err: "" });
    expect(e.out).toContain("TriggeredBy");

    expect(await ruche("status", "zzzz")).toEqual({ code: 1, out: "", err: 'Error: Unable to resolve ID: "zzzz"\n' });
  });

  it("node status -self shows the agent's own node", async () => {
    const r = await ruche("node", "status", "-self");
    expect(r).toMatchObject({ code: 0, err: "" });
    expect(r.out).toMatch(/^ID += 6c1a0000\n/);
    expect(r.out).toContain("one");
    expect((await ruche("node", "status", "-self", "x")).code).toBe(1);
  });

  it("alloc status shows the allocation's addresses: each group port, dynamic or not, and where it maps to", async () => {
    const id = allocs[0]?.ID ?? "";
    const a = (await api.allocation(id)).body;
    const nw = a.Resources.Networks[0];
    const http = nw?.DynamicPorts.find((p) => p.Label === "http");
    expect(http?.Value).toBeGreaterThan(0);
    const r = await ruche("alloc", "status", id);
    expect(r).toMatchObject({ code: 0, err: "" });
    const section = r.out.split("\n\n").find((s) => s.startsWith("Allocation Addresses"));
    expect(section).toBeDefined();
    const lines = (section ?? "").split("\n");
    expect(lines[0]).toBe(`Allocation Addresses (mode = "host"):`);
    expect(lines.slice(1).map((l) => l.split(/ {2,}/))).toEqual([
      ["Label", "Dynamic", "Address"],
      ["*http", "yes", `${nw?.IP ?? ""}:${http?.Value ?? 0} -> 8080`],
      // A static port the task sees as itself: no arrow.
      ["*admin", "no", `${nw?.IP ?? ""}:9901`],
    ]);
  });

  it("alloc stop stops the allocation and follows the evaluation that places its replacement", async () => {
    const victim = allocs[0]?.ID ?? "";
    const r = await ruche("alloc", "stop", victim.slice(0, 8));
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^==> Monitoring evaluation "[0-9a-f]{8}"\n/);
    expect(r.out).toMatch(/Evaluation triggered by job "web"/);
    expect(r.out).toMatch(/Evaluation status changed: "pending" -> "complete"/);
    const ev = (await api.jobEvaluations("web")).body.find((e) => e.TriggeredBy === "alloc-stop");
    expect(ev?.Status).toBe("complete");
    // The stopped allocation is told to stop, and a replacement (its successor) runs.
    const after = await running("web", 2);
    expect(after.map((a) => a.ID)).not.toContain(victim);
    expect((await api.allocation(victim)).body.DesiredStatus).toBe("stop");
    const replacement = (await api.jobAllocations("web")).body.find((a) => a.ID !== victim && !allocs.some((o) => o.ID === a.ID));
    expect(replacement).toBeDefined();
    expect((await api.allocation(replacement?.ID ?? "")).body.PreviousAllocation).toBe(victim);
    expect(await ruche("alloc", "stop", "a")).toMatchObject({ code: 1, err: expect.stringContaining("Alloc ID must contain at least two characters.") as unknown });
  });
});
