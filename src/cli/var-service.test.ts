/**
 * `ruche var get|put|list|purge` and `ruche service list|info|delete` as Nomad users type
 * them (`command/var_*.go`, `command/service_*.go`), run in-process through `runCli` against
 * a real API on port 0 of 127.0.0.1 over a memory store, with the catalog.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApi, type RunningHttp } from "../api/index.js";
import { KVService, LockDelays, ServiceRegistry, StoreCatalog } from "../catalog/index.js";
import { Server } from "../server/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { mock, silentLogger, type Job, type Node } from "../structs/index.js";
import { runCli, type IO } from "./index.js";

let store: StateStore;
let server: Server;
let http: RunningHttp;
let dir = "";
let node: Node;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-var-cli-"));
  store = await StateStore.open(memoryBackend());
  server = new Server(store);
  server.start();
  const kv = new KVService(store, { now: Date.now, delays: new LockDelays() });
  const consul = { catalog: new StoreCatalog(store, "dc1"), localNode: () => "n1", version: "1.17.0", registry: new ServiceRegistry(store, Date.now), allowScriptChecks: false, kv };
  http = await startApi(server, store, { host: "127.0.0.1", port: 0, log: silentLogger, consul });
  node = mock.node({ id: "6c1a0000-0000-4000-8000-0000000000aa", name: "n1", datacenter: "dc1" });
  await store.write((tx) => {
    tx.put("nodes", node);
  });
});

afterAll(async () => {
  await http.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function ruche(argv: string[], o: { stdin?: string; env?: Record<string, string> } = {}): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const io: IO = { out: (t) => (out += t), err: (t) => (err += t), env: { RUCHE_ADDR: http.address, ...o.env }, cwd: dir, ...(o.stdin === undefined ? {} : { stdin: Readable.from([o.stdin]) }) };
  const code = await runCli(argv, io);
  return { code, out, err };
}

describe("ruche var", () => {
  it("puts a variable from k=v arguments, gets it whole, as JSON and item by item", async () => {
    const put = await ruche(["var", "put", "app/db", "user=ruche", "password=s3cret"]);
    expect(put.err).toBe("");
    expect(put.out).toMatch(/^Created variable "app\/db" with modify index \d+\n$/);
    expect(put.code).toBe(0);

    const table = await ruche(["var", "get", "app/db"]);
    expect(table.code).toBe(0);
    expect(table.out).toMatch(/^Namespace {3}= default\nPath {8}= app\/db\nCreate Time = \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\nCheck Index = \d+\n\nItems\npassword = s3cret\nuser {5}= ruche\n$/);

    const json = JSON.parse((await ruche(["var", "get", "-out", "json", "app/db"])).out) as Record<string, unknown>;
    expect(json).toMatchObject({ Namespace: "default", Path: "app/db", Items: { user: "ruche", password: "s3cret" } });

    expect(await ruche(["var", "get", "-item", "password", "app/db"])).toEqual({ code: 0, out: "s3cret\n", err: "" });
    const noItem = await ruche(["var", "get", "-item", "nope", "app/db"]);
    expect(noItem.code).toBe(1);
    expect(noItem.err).toContain('Variable does not contain "nope" item');
    const missing = await ruche(["var", "get", "app/none"]);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain("Variable not found");
  });

  it("refuses to overwrite without -force or -check-index, with Nomad's check-and-set message; -check-index and -force write", async () => {
    await ruche(["var", "put", "app/cas", "v=1"]);
    const index = (JSON.parse((await ruche(["var", "get", "-json", "app/cas"])).out) as { ModifyIndex: number }).ModifyIndex;
    const refused = await ruche(["var", "put", "app/cas", "v=2"]);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain("Check-and-Set conflict");
    expect(refused.err).toContain(`Your provided check-index (0) does not match the server-side index (${index})`);
    expect(refused.err).toContain(`-check-index=${index}`);
    const stale = await ruche(["var", "put", "-check-index", String(index + 50), "app/cas", "v=2"]);
    expect(stale.code).toBe(1);
    expect((await ruche(["var", "put", "-check-index", String(index), "app/cas", "v=2"])).code).toBe(0);
    expect((await ruche(["var", "put", "-force", "app/cas", "v=3"])).code).toBe(0);
    const dashed = await ruche(["var", "put", "app/dash", "my-key=1"]);
    expect(dashed.code).toBe(0);
    expect(dashed.err).toContain(`"my-key" contains characters ["-"] that require the 'index' function for direct access in templates`);
    expect((await ruche(["var", "get", "-item", "v", "app/cas"])).out).toBe("3\n");
  });

  it("reads a JSON specification from standard input (-in=json PATH -) and a file, the arguments winning", async () => {
    const fromStdin = await ruche(["var", "put", "-in=json", "app/spec", "-"], { stdin: JSON.stringify({ Items: { a: "1", b: "2" } }) });
    expect(fromStdin.code).toBe(0);
    expect((JSON.parse((await ruche(["var", "get", "-json", "app/spec"])).out) as { Items: unknown }).Items).toEqual({ a: "1", b: "2" });
    writeFileSync(join(dir, "spec.json"), JSON.stringify({ Path: "app/file", Items: { a: "1", b: "2" } }));
    const fromFile = await ruche(["var", "put", "@spec.json", "b=3", "a="]);
    expect(fromFile.out).toMatch(/Created variable "app\/file"/);
    expect((JSON.parse((await ruche(["var", "get", "-json", "app/file"])).out) as { Items: unknown }).Items).toEqual({ b: "3" });
    const hcl = await ruche(["var", "put", "-in=hcl", "app/x", "-"], { stdin: 'items { a = "b" }' });
    expect(hcl.code).not.toBe(0);
    expect(hcl.err).toContain("JSON only");
    const noData = await ruche(["var", "put", "app/x"]);
    expect(noData.err).toContain("Must supply data");
  });

  it("lists variables under a prefix as Nomad's table, terse or JSON; purges them", async () => {
    await ruche(["var", "put", "list/a", "k=v"]);
    await ruche(["var", "put", "list/b", "k=v"]);
    await ruche(["var", "put", "-namespace", "prod", "list/c", "k=v"]);
    const table = await ruche(["var", "list", "list/"]);
    const cells = table.out.trimEnd().split("\n").map((l) => l.split(/ {2,}/));
    expect(cells.map((c) => c.slice(0, 2))).toEqual([["Namespace", "Path"], ["default", "list/a"], ["default", "list/b"]]);
    expect(cells[0]![2]).toBe("Last Updated");
    expect(cells[1]![2]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect((await ruche(["var", "list", "-out", "terse", "list/"])).out).toBe("list/a\nlist/b\n");
    expect((JSON.parse((await ruche(["var", "list", "-json", "-namespace", "*", "list/"])).out) as { Path: string }[]).map((v) => v.Path)).toEqual(["list/a", "list/b", "list/c"]);
    expect((await ruche(["var", "list", "nothing/"])).out).toBe("No matching variables found\n");
    expect(await ruche(["var", "purge", "list/a"])).toEqual({ code: 0, out: 'Successfully purged variable "list/a"!\n', err: "" });
    expect((await ruche(["var", "get", "list/a"])).code).toBe(1);
    const wildcard = await ruche(["var", "get", "-namespace", "*", "list/b"]);
    expect(wildcard.err).toContain('The wildcard namespace ("*") is not valid for this command.');
  });
});

describe("ruche service", () => {
  it("lists services, shows a service's instances and deletes a directly registered one, as Nomad's service commands", async () => {
    expect((await ruche(["service", "list"])).out).toBe("No service registrations found\n");
    const job: Job = mock.job({ id: "web" });
    job.TaskGroups[0]!.Tasks[0]!.Services = [{ Name: "web", PortLabel: "http", AddressMode: "auto", Tags: ["v1", "a"], CanaryTags: [], Meta: {}, TaskName: "", Checks: [] }];
    const alloc = mock.alloc(job, node, 0, {
      ClientStatus: "running",
      Resources: { CPU: 100, MemoryMB: 64, DiskMB: 0, Networks: [{ Mode: "host", MBits: 0, IP: "10.0.0.1", ReservedPorts: [], DynamicPorts: [{ Label: "http", Value: 23456, To: 23456, HostNetwork: "" }] }] },
    });
    await store.write((tx) => {
      tx.put("allocs", alloc);
      tx.put("services", { ID: "ext-1", Name: "ext", Tags: [], Address: "10.0.0.9", Port: 80, Meta: {}, NodeID: node.ID, Checks: [], CreateIndex: 0, ModifyIndex: 0 });
    });
    expect((await ruche(["service", "list"])).out).toBe("Service Name  Tags\next           []\nweb           [a,v1]\n");
    expect((await ruche(["service", "list", "-namespace", "*"])).out).toContain("Service Name  Namespace  Tags\n");
    const info = (await ruche(["service", "info", "web"])).out.trimEnd().split("\n").map((l) => l.split(/ {2,}/));
    expect(info).toEqual([["Job ID", "Address", "Tags", "Node ID", "Alloc ID"], ["web", "10.0.0.1:23456", "[v1,a]", node.ID.slice(0, 8), alloc.ID.slice(0, 8)]]);
    const verbose = (await ruche(["service", "info", "-verbose", "web"])).out;
    expect(verbose).toContain(`Alloc ID     = ${alloc.ID}`);
    expect(verbose).toContain("Datacenter   = dc1");
    const regs = JSON.parse((await ruche(["service", "info", "-json", "web"])).out) as { ID: string; AllocID: string }[];
    expect(regs.map((r) => r.AllocID)).toEqual([alloc.ID]);
    expect(await ruche(["service", "delete", "ext", "ext-1"])).toEqual({ code: 0, out: "Successfully deleted service registration\n", err: "" });
    expect((await ruche(["service", "info", "ext"])).out).toBe("No service registrations found\n");
    const refused = await ruche(["service", "delete", "web", regs[0]!.ID]);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain("leaves the catalog when the allocation stops");
  });
});
