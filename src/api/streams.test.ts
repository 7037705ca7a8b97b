import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, lstatSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient, httpTransport } from "../apiclient/index.js";
import { SimulatedNode } from "../client/sim.js";
import { parseJob } from "../jobspec/index.js";
import type { Job } from "../structs/index.js";
import { goFileMode, resolveInAllocDir } from "./routes/alloc-files.js";
import { testApi, type TestApi } from "./testing.js";

/**
 * Nomad's streaming routes as its Go client reads them: the event stream (`api.Events`,
 * `api.Event` in api/event_stream.go at aa026cc9), and the allocation directory's paths (the
 * routes on a real agent are in test/e2e/alloc-exec-tty.test.ts).
 */
const EVENT_FIELDS = ["FilterKeys", "Index", "Key", "Namespace", "Payload", "Topic", "Type"];

let t: TestApi;
let api: ApiClient;
let dir = "";
let node: SimulatedNode;

beforeAll(async () => {
  t = await testApi();
  api = new ApiClient(t.http.address);
  node = new SimulatedNode(httpTransport(new ApiClient(t.http.address)), { name: "n1" });
  await node.start();
  dir = mkdtempSync(join(tmpdir(), "ruche-streams-test-"));
});

afterAll(async () => {
  await node.kill();
  await t.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function job(id: string): Promise<Job> {
  const r = await parseJob(`job "${id}" {\n  datacenters = ["dc1"]\n  group "g" {\n    task "t" {\n      driver = "mock"\n    }\n  }\n}\n`, { file: `${id}.hcl` });
  if (!r.ok) throw new Error("bad test job");
  return r.job;
}

/** Reads a Nomad-form event stream until `done` says so; every line is one JSON object. */
async function readEvents(query: string, act: () => Promise<void>, done: (lines: unknown[]) => boolean): Promise<{ lines: unknown[]; contentType: string | null }> {
  const ac = new AbortController();
  const res = await fetch(`${t.base}/v1/event/stream${query}`, { signal: ac.signal });
  expect(res.status).toBe(200);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const lines: unknown[] = [];
  let buf = "";
  await act();
  const timer = setTimeout(() => {
    ac.abort();
  }, 10_000);
  try {
    while (!done(lines)) {
      const { value, done: end } = await reader.read();
      if (end) break;
      buf += Buffer.from(value).toString("utf8");
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        lines.push(JSON.parse(buf.slice(0, i)));
        buf = buf.slice(i + 1);
      }
    }
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  return { lines, contentType: res.headers.get("content-type") };
}

type Events = { Index: number; Events: { Topic: string; Type: string; Key: string; Namespace: string; FilterKeys: string[]; Index: number; Payload: Record<string, { ID?: string; JobID?: string }> }[] };

describe("the event stream in Nomad's form", () => {
  it("sends api.Events for Topic:Key, with the payload under its type's name", async () => {
    const { lines, contentType } = await readEvents(
      "?topic=Job:wanted&topic=Evaluation:*",
      async () => {
        await api.register(await job("other"));
        await api.register(await job("wanted"));
      },
      (ls) => ls.some((l) => ((l as Partial<Events>).Events ?? []).some((e) => e.Topic === "Job")) && ls.some((l) => ((l as Partial<Events>).Events ?? []).some((e) => e.Topic === "Evaluation" && e.FilterKeys.includes("wanted"))),
    );
    expect(contentType).toBe("application/json");
    const events = lines.flatMap((l) => (l as Partial<Events>).Events ?? []);
    const jobs = events.filter((e) => e.Topic === "Job");
    expect(jobs.map((e) => e.Key)).toEqual(["wanted"]);
    const e = jobs[0];
    expect(Object.keys(e ?? {}).sort()).toEqual(EVENT_FIELDS);
    expect(e).toMatchObject({ Type: "JobRegistered", Namespace: "default", FilterKeys: [] });
    expect(e?.Payload.Job?.ID).toBe("wanted");
    expect(typeof (lines[0] as Events).Index).toBe("number");
    // Evaluations of both jobs: every key; each names its job in FilterKeys and its payload under Evaluation.
    const evals = events.filter((x) => x.Topic === "Evaluation");
    expect(evals.every((x) => x.Type === "EvaluationUpdated" && x.FilterKeys[0] === x.Payload.Evaluation?.JobID && x.Key === x.Payload.Evaluation?.ID)).toBe(true);
    expect(events.some((x) => x.Topic === "Allocation")).toBe(false);
  });

  it("filters allocations by their job in FilterKeys, and refuses an unknown topic", async () => {
    const { lines } = await readEvents("?topic=Allocation:filtered", async () => {
      await api.register(await job("filtered"));
    }, (ls) => ls.some((l) => ((l as Partial<Events>).Events ?? []).length > 0));
    const allocs = lines.flatMap((l) => (l as Partial<Events>).Events ?? []);
    expect(allocs.length).toBeGreaterThan(0);
    expect(allocs.every((e) => e.Topic === "Allocation" && e.Type === "AllocationUpdated" && e.FilterKeys.includes("filtered") && e.Payload.Allocation?.JobID === "filtered")).toBe(true);
    const bad = await fetch(`${t.base}/v1/event/stream?topic=Jobs:*`);
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('unknown topic \\"Jobs\\"');
  });
});

describe("the allocation directory's paths", () => {
  it("resolves paths inside it, and refuses .. past it and links out of it", async () => {
    const root = join(dir, "alloc1");
    mkdirSync(join(root, "web", "local"), { recursive: true });
    writeFileSync(join(root, "web", "local", "a.txt"), "a");
    writeFileSync(join(dir, "secret.txt"), "s");
    symlinkSync(join(dir, "secret.txt"), join(root, "web", "local", "out"));
    symlinkSync("a.txt", join(root, "web", "local", "in"));
    expect((await resolveInAllocDir(root, "/web/local/a.txt")).rel).toBe(join("web", "local", "a.txt"));
    expect((await resolveInAllocDir(root, "/")).rel).toBe("");
    expect((await resolveInAllocDir(root, "web/local/in")).rel).toBe(join("web", "local", "a.txt"));
    await expect(resolveInAllocDir(root, "../secret.txt")).rejects.toThrow("leads out of the allocation directory");
    await expect(resolveInAllocDir(root, "web/../../secret.txt")).rejects.toThrow("leads out of the allocation directory");
    await expect(resolveInAllocDir(root, "web/local/out")).rejects.toMatchObject({ code: "RUCHE_FORBIDDEN" });
    await expect(resolveInAllocDir(root, "web/nope")).rejects.toMatchObject({ code: "RUCHE_NOT_FOUND" });
  });

  it("prints modes as Go's os.FileMode does", () => {
    const f = join(dir, "mode.txt");
    writeFileSync(f, "", { mode: 0o640 });
    expect(goFileMode(statSync(f))).toBe("-rw-r-----");
    expect(goFileMode(statSync(dir))).toMatch(/^drwx/);
    symlinkSync(f, join(dir, "mode-link"));
    expect(goFileMode(lstatSync(join(dir, "mode-link")))).toBe("Lrwxrwxrwx");
  });

  it("answers a plain GET of the exec route, and a file route of an unknown allocation, with errors that say why", async () => {
    const exec = await fetch(`${t.base}/v1/client/allocation/00000000-0000-0000-0000-000000000000/exec?command=%5B%22sh%22%5D`);
    expect(exec.status).toBe(404);
    const ls = await fetch(`${t.base}/v1/client/fs/ls/nope?path=/`);
    expect(ls.status).toBe(404);
    expect(await ls.text()).toContain('allocation \\"nope\\" not found');
  });
});
