/**
 * `ruche alloc status -verbose` against a real server in this process: the state store
 * (memory backend), the server's workers and the HTTP API on port 0 of 127.0.0.1, and
 * simulated nodes of different sizes. The CLI runs in-process through `runCli`.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApi, type RunningHttp } from "../api/index.js";
import { ApiClient, httpTransport, type AllocStub } from "../apiclient/index.js";
import { SimulatedNode } from "../client/index.js";
import { Server } from "../server/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { silentLogger, type Allocation } from "../structs/index.js";
import { runCli, type IO } from "./index.js";
import { formatScore } from "./format/index.js";

let store: StateStore;
let server: Server;
let http: RunningHttp;
let api: ApiClient;
let dir = "";
const sims: SimulatedNode[] = [];

const NODES = [
  { id: "5ba27c20-0000-4000-8000-000000000001", name: "small", cpu: 1000, memory: 1024 },
  { id: "5ba27c20-0000-4000-8000-000000000002", name: "medium", cpu: 2000, memory: 2048 },
  { id: "5ba27c20-0000-4000-8000-000000000003", name: "large", cpu: 4000, memory: 4096 },
  // No mock driver: the job's tasks cannot run here.
  { id: "5ba27c20-0000-4000-8000-000000000004", name: "exec-only", drivers: ["exec"] },
];

beforeAll(async () => {
  store = await StateStore.open(memoryBackend());
  server = new Server(store);
  server.start();
  http = await startApi(server, store, { host: "127.0.0.1", port: 0, log: silentLogger });
  api = new ApiClient(http.address);
  for (const n of NODES) {
    const s = new SimulatedNode(httpTransport(api), n);
    await s.start();
    sims.push(s);
  }
  dir = mkdtempSync(join(tmpdir(), "ruche-alloc-status-"));
  // Every node scored (full_scan), so the table has a row for each node the job may use.
  writeFileSync(
    join(dir, "web.hcl"),
    'job "web" {\n  datacenters = ["dc1"]\n  placement {\n    full_scan = true\n  }\n  group "g" {\n    count = 3\n    task "t" {\n      driver = "mock"\n      resources {\n        cpu    = 200\n        memory = 256\n      }\n    }\n  }\n}\n',
  );
});

afterAll(async () => {
  await Promise.all(sims.map((s) => s.kill()));
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

/** The job's allocations once there are `n`, by blocking queries on the API's index. */
async function allocations(job: string, n: number): Promise<AllocStub[]> {
  let index = 0;
  for (;;) {
    const r = await api.jobAllocations(job, { index, wait: "5s" });
    if (r.body.length >= n) return r.body;
    index = r.index;
  }
}

/** The `Placement Metrics` table: header cells and rows of cells (columns are two spaces or more apart). */
function metricsTable(out: string): { header: string[]; rows: string[][] } {
  const section = out.split("\nPlacement Metrics\n")[1] ?? "";
  const lines = section.split("\n").filter((l) => l !== "" && !l.startsWith("  * "));
  const [head = "", ...rest] = lines;
  return { header: head.split(/ {2,}/), rows: rest.map((l) => l.split(/ {2,}/)) };
}

describe("ruche alloc status -verbose", () => {
  it("shows the placement metrics: nodes evaluated and filtered, each scorer's value per node and the final score", async () => {
    expect(await ruche("job", "run", "-detach", "web.hcl")).toMatchObject({ code: 0, err: "" });
    const stubs = await allocations("web", 3);
    const byName = new Map(stubs.map((s) => [s.Name, s]));

    // The first placement: every node looked at, the one without the driver turned down, three scored.
    const first = byName.get("web.g[0]");
    expect(first).toBeDefined();
    const r = await ruche("alloc", "status", "-verbose", first?.ID ?? "");
    expect(r).toMatchObject({ code: 0, err: "" });
    expect(r.out).toMatch(/\nEvaluated Nodes += 4\nFiltered Nodes += 1\nExhausted Nodes += 0\n/);
    expect(r.out).toContain("\n\nPlacement Metrics\n  * 1 node missing drivers\nNode ");
    const json = JSON.parse((await ruche("alloc", "status", "-json", first?.ID ?? "")).out) as Allocation;
    const scored = json.Metrics?.ScoreMetaData ?? [];
    expect(scored.map((e) => e.NodeID).sort()).toEqual(NODES.slice(0, 3).map((n) => n.id));
    const table = metricsTable(r.out);
    expect(table.header).toEqual(["Node", "binpack", "final score"]);
    // Best first, the chosen node on top; with one scorer, the final score is its value.
    expect(table.rows[0]?.[0]).toBe(json.NodeID);
    expect(table.rows).toEqual(scored.map((e) => [e.NodeID, formatScore(e.Scores.binpack ?? NaN), formatScore(e.NormScore)]));
    for (const row of table.rows) expect(row[2]).toBe(row[1]);

    // A later placement: the node that already holds one of the group's allocations has job
    // anti-affinity to say (two collisions or one, of a group of 3), and its final score is the mean.
    const third = byName.get("web.g[2]");
    const later = await ruche("alloc", "status", "-verbose", third?.ID ?? "");
    const laterJson = JSON.parse((await ruche("alloc", "status", "-json", third?.ID ?? "")).out) as Allocation;
    const t = metricsTable(later.out);
    expect(t.header).toEqual(["Node", "binpack", "job-anti-affinity", "final score"]);
    const holders = new Set(stubs.filter((s) => s.Name !== "web.g[2]").map((s) => s.NodeID));
    expect(t.rows).toHaveLength(laterJson.Metrics?.ScoreMetaData.length ?? -1);
    for (const [node = "", binpack = "", anti = "", final = ""] of t.rows) {
      const e = laterJson.Metrics?.ScoreMetaData.find((x) => x.NodeID === node);
      expect(e).toBeDefined();
      expect(binpack).toBe(formatScore(e?.Scores.binpack ?? NaN));
      expect(final).toBe(formatScore(e?.NormScore ?? NaN));
      if (holders.has(node)) {
        expect(["-0.667", "-1"]).toContain(anti);
        expect(e?.NormScore).toBeCloseTo(((e?.Scores.binpack ?? NaN) + (e?.Scores["job-anti-affinity"] ?? NaN)) / 2, 12);
      } else {
        expect(anti).toBe("-");
      }
    }
  });
});
