/**
 * Service definition files: what a reload registers, changes and removes, and that a dir
 * with any bad file changes nothing and names every problem with its file.
 */
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ServiceRegistry } from "../catalog/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { ServiceFiles, ServiceFilesError } from "./service-files.js";

let dir = "";
let store: StateStore;
let registry: ServiceRegistry;
let files: ServiceFiles;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-service-files-"));
  store = await StateStore.open(memoryBackend());
  registry = new ServiceRegistry(store, () => 1_000);
  files = new ServiceFiles(dir, registry, () => "node-1", () => 1_000);
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const write = (name: string, doc: unknown): void => {
  writeFileSync(join(dir, name), typeof doc === "string" ? doc : JSON.stringify(doc));
};

async function problems(): Promise<string[]> {
  try {
    await files.load();
  } catch (err) {
    if (err instanceof ServiceFilesError) return err.problems;
    throw err;
  }
  return [];
}

describe("service definition files", () => {
  it("registers, keeps check status across an unchanged reload, and removes what left the dir", async () => {
    write("web.json", { service: { name: "web", port: 80, check: { ttl: "30s" } } });
    write("notes.txt", "not a definition");
    expect(await files.load()).toEqual({ registered: ["web"], deregistered: [], unchanged: [] });
    await registry.setCheck("node-1", "service:web", "passing", "ok");
    expect(await files.load()).toEqual({ registered: [], deregistered: [], unchanged: ["web"] });
    expect(registry.list()[0]?.Checks[0]?.Status).toBe("passing");

    write("web.json", { service: { name: "web", port: 8080, check: { ttl: "30s" } } });
    expect((await files.load()).registered).toEqual(["web"]);
    expect(registry.list()[0]).toMatchObject({ Port: 8080, Source: "config", NodeID: "node-1" });
    expect(registry.list()[0]?.Checks[0]?.Status).toBe("passing");

    unlinkSync(join(dir, "web.json"));
    expect(await files.load()).toEqual({ registered: [], deregistered: ["web"], unchanged: [] });
    expect(registry.list()).toEqual([]);
  });

  it("leaves services registered through the API alone", async () => {
    await registry.register({ ID: "api-one", Name: "api", Tags: [], Address: "", Port: 1, Meta: {}, NodeID: "node-1", Checks: [], CreateIndex: 0, ModifyIndex: 0 });
    await files.load();
    expect(registry.list().map((s) => s.ID)).toEqual(["api-one"]);
  });

  it("changes nothing when any file is wrong, and names each problem with its file", async () => {
    write("good.json", { service: { name: "good", port: 1 } });
    await files.load();
    write("new.json", { service: { name: "new", port: 2 } });
    write("a.json", "{ nope");
    write("b.json", { services: { name: "x" } });
    write("c.json", { servce: { name: "typo" } });
    write("d.json", { service: { name: "dup", id: "good", port: 3 } });
    write("e.json", { service: { name: "script", check: { args: ["/bin/true"], interval: "10s" } } });
    write("f.json", [1, 2]);
    const found = await problems();
    expect(found.find((p) => p.includes("a.json"))).toMatch(/not JSON/);
    expect(found.find((p) => p.includes("b.json"))).toMatch(/"services" must be a list/);
    expect(found.find((p) => p.includes("c.json"))).toMatch(/neither "service" nor "services"/);
    expect(found.find((p) => p.includes("also defined"))).toMatch(/good\.json: service: service ID "good" is also defined in .*d\.json/);
    expect(found.find((p) => p.includes("e.json"))).toMatch(/script/i);
    expect(found.find((p) => p.includes("f.json"))).toMatch(/must be a JSON object/);
    expect(registry.list().map((s) => s.ID)).toEqual(["good"]);
  });

  it("reads HCL definition files as Consul does, and names a mistake in one with file:line:col", async () => {
    write("web.hcl", 'service {\n  name = "web"\n  port = 80\n  tags = ["a"]\n  check {\n    ttl = "30s"\n  }\n}\n');
    write("more.hcl", 'services {\n  name = "api"\n  port = 81\n}\nservices {\n  name = "db"\n  port = 82\n}\n');
    expect((await files.load()).registered.sort()).toEqual(["api", "db", "web"]);
    expect(registry.list().find((s) => s.ID === "web")).toMatchObject({ Port: 80, Tags: ["a"], Source: "config" });
    expect(registry.list().find((s) => s.ID === "web")?.Checks).toHaveLength(1);
    write("bad.hcl", 'service {\n  name = "x"\n  port = \n}\n');
    expect((await problems()).find((p) => p.includes("bad.hcl"))).toMatch(/bad\.hcl:\d+:\d+: /);
    expect(registry.list().map((s) => s.ID).sort()).toEqual(["api", "db", "web"]);
  });

  it("says so when the dir cannot be read", async () => {
    files = new ServiceFiles(join(dir, "missing"), registry, () => "node-1");
    expect((await problems())[0]).toMatch(/missing: ENOENT/);
  });
});

describe("script checks in definition files", () => {
  it("are refused unless the agent allows local script checks (Consul's enable_local_script_checks), then registered", async () => {
    write("backup.json", { service: { name: "backup", check: { args: ["/usr/local/bin/check-backup"], interval: "30s" } } });
    expect(await problems()).toEqual([
      `${join(dir, "backup.json")}: service.Checks[0]: script checks are disabled on this agent (they run any command a definition file names); enable_local_script_checks = true (-enable-local-script-checks) or enable_script_checks in the agent config allows them`,
    ]);
    expect(registry.list()).toEqual([]);
    const allowed = new ServiceFiles(dir, registry, () => "node-1", () => 1_000, true);
    expect(await allowed.load()).toEqual({ registered: ["backup"], deregistered: [], unchanged: [] });
    expect(registry.list()[0]?.Checks[0]).toMatchObject({ Type: "script", Args: ["/usr/local/bin/check-backup"] });
  });
});
