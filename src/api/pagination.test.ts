import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient, httpTransport } from "../apiclient/index.js";
import { SimulatedNode } from "../client/sim.js";
import { Server } from "../server/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { mock, silentLogger } from "../structs/index.js";
import { startApi, type RunningHttp } from "./index.js";
import { createIndexIdTokens, paginate } from "./paginate.js";

/** Real HTTP on 127.0.0.1 over a server with three simulated nodes and 23 jobs of two allocations each. */
let store: StateStore;
let server: Server;
let http: RunningHttp;
const sims: SimulatedNode[] = [];
const JOBS = 23;

beforeAll(async () => {
  store = await StateStore.open(memoryBackend());
  server = new Server(store);
  server.start();
  http = await startApi(server, store, { host: "127.0.0.1", port: 0, log: silentLogger });
  const api = new ApiClient(http.address);
  for (let i = 0; i < 3; i++) {
    const s = new SimulatedNode(httpTransport(api), { name: `n${i}` });
    await s.start();
    sims.push(s);
  }
  // Registered out of order: the list is in the order of its tokens, not of registration.
  for (let i = 0; i < JOBS; i++) {
    const n = (i * 7) % JOBS;
    const job = mock.job({ id: `${n % 2 === 0 ? "web" : "api"}-${String(n).padStart(2, "0")}`, count: 2 });
    job.TaskGroups[0]!.Update = null;
    await server.registerJob(job);
  }
  // Settled: every allocation placed, every evaluation done (a bounded wait).
  const end = Date.now() + 15_000;
  while (store.allocs().length < 2 * JOBS || !store.evals().every((e) => e.Status === "complete")) {
    if (Date.now() > end) throw new Error(`not settled: ${store.allocs().length} allocations, evaluations ${store.evals().map((e) => e.Status).join(",")}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}, 30_000);

afterAll(async () => {
  await Promise.all(sims.map((s) => s.kill()));
  await http.close();
  await server.stop();
});

interface Page {
  status: number;
  items: { ID: string; CreateIndex: number; Namespace?: string }[];
  next: string | null;
}

async function page(path: string): Promise<Page> {
  const res = await fetch(`http://${http.address}${path}`);
  const body = (await res.json()) as Page["items"];
  return { status: res.status, items: body, next: res.headers.get("x-nomad-nexttoken") };
}

/** Follows `X-Nomad-NextToken` from the first page to the last; the pages as they came. */
async function walk(path: string): Promise<Page[]> {
  const pages: Page[] = [];
  let token: string | null = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const p = await page(token === null ? path : `${path}${sep}next_token=${encodeURIComponent(token)}`);
    expect(p.status).toBe(200);
    pages.push(p);
    token = p.next;
    if (pages.length > 100) throw new Error("the walk does not end");
  } while (token !== null);
  return pages;
}

describe("list pagination (per_page, next_token, X-Nomad-NextToken)", () => {
  it("walks every job once, in namespace.ID order, per_page at a time; each page names the next one's first job", async () => {
    const pages = await walk("/v1/jobs?per_page=5");
    expect(pages.map((p) => p.items.length)).toEqual([5, 5, 5, 5, 3]);
    const ids = pages.flatMap((p) => p.items.map((j) => j.ID));
    expect(ids).toHaveLength(JOBS);
    expect(new Set(ids).size).toBe(JOBS);
    expect(ids).toEqual([...ids].sort());
    for (let i = 0; i < pages.length - 1; i++) expect(pages[i]?.next).toBe(`default.${pages[i + 1]?.items[0]?.ID ?? ""}`);
    expect(pages.at(-1)?.next).toBeNull();

    // Without per_page, one answer holds them all and names no next page.
    const all = await page("/v1/jobs");
    expect(all.items.map((j) => j.ID)).toEqual(ids);
    expect(all.next).toBeNull();

    // Backwards, the same jobs from the other end.
    const back = await walk("/v1/jobs?per_page=4&reverse=true");
    expect(back.flatMap((p) => p.items.map((j) => j.ID))).toEqual([...ids].reverse());
  });

  it("pages what a prefix leaves, and refuses a per_page that is not a whole number", async () => {
    const pages = await walk("/v1/jobs?prefix=web-&per_page=3");
    const ids = pages.flatMap((p) => p.items.map((j) => j.ID));
    expect(ids).toEqual(
      Array.from({ length: JOBS }, (_, n) => n)
        .filter((n) => n % 2 === 0)
        .map((n) => `web-${String(n).padStart(2, "0")}`),
    );
    expect(pages.every((p) => p.items.length <= 3)).toBe(true);

    for (const bad of ["ten", "-1", "2.5"]) {
      const res = await fetch(`http://${http.address}/v1/jobs?per_page=${bad}`);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: { path: "per_page" } });
    }
  });

  it("walks the allocations, evaluations and deployments by create index, and the nodes by ID, each once", async () => {
    for (const [path, count] of [
      ["/v1/allocations", 2 * JOBS],
      ["/v1/evaluations", store.evals().length],
      ["/v1/deployments", store.deployments().length],
      ["/v1/nodes", 3],
    ] as const) {
      const pages = await walk(`${path}?per_page=2`);
      const items = pages.flatMap((p) => p.items);
      expect(items, path).toHaveLength(count);
      expect(new Set(items.map((x) => x.ID)).size, path).toBe(count);
      expect(pages.length, path).toBe(Math.max(1, Math.ceil(count / 2)));
      expect(pages.slice(0, -1).every((p) => p.items.length === 2 && p.next !== null), path).toBe(true);
      if (path === "/v1/nodes") expect(items.map((n) => n.ID)).toEqual(items.map((n) => n.ID).sort());
      else expect(items.map((x) => x.CreateIndex)).toEqual(items.map((x) => x.CreateIndex).sort((a, b) => a - b));
    }
  });

  it("answers a change at once: the list made once per index is made again at the next", async () => {
    const before = await page("/v1/jobs?per_page=100");
    const again = await page("/v1/jobs?per_page=100");
    expect(again.items).toEqual(before.items);
    const job = mock.job({ id: "zz-late", count: 0 });
    await server.registerJob(job);
    const after = await page("/v1/jobs?per_page=100");
    expect(after.items.map((j) => j.ID)).toEqual([...before.items.map((j) => j.ID), "zz-late"]);
  });
});

describe("paginate", () => {
  it("compares create indexes as numbers: 12 comes before 102", () => {
    const items = [
      { CreateIndex: 9, ID: "c" },
      { CreateIndex: 12, ID: "a" },
      { CreateIndex: 12, ID: "b" },
      { CreateIndex: 102, ID: "a" },
    ];
    const first = paginate(items, { perPage: 2, nextToken: "", reverse: false }, createIndexIdTokens);
    expect(first).toEqual({ page: [items[0], items[1]], nextToken: "12.b" });
    const second = paginate(items, { perPage: 2, nextToken: first.nextToken, reverse: false }, createIndexIdTokens);
    expect(second).toEqual({ page: [items[2], items[3]], nextToken: "" });
    // A token past every item: an empty page, the last.
    expect(paginate(items, { perPage: 2, nextToken: "200.a", reverse: false }, createIndexIdTokens)).toEqual({ page: [], nextToken: "" });
  });
});
