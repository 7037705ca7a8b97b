/**
 * The Consul + Traefik walkthrough, on Ruche: two web servers already running on the
 * machine are registered through service definition files (article 2's `web.json`, one per
 * instance) and a reload; `/v1/catalog/service/demo` lists them; the router, configured as
 * the article configures Traefik (its `traefik.toml` as written: `constraints =
 * ["tag==exposed"]`, a default rule on its domain), sends requests to one and the other in
 * turn, and stops at once sending any to an instance whose file is removed.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getThrough, ruche, startAgentProcess, until, type AgentProcess } from "./harness.js";

let dir = "";
let agent: AgentProcess;
const servers: ChildProcess[] = [];
const ports: number[] = [];

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-consul-traefik-e2e-"));
  // The article's two web servers: busybox httpd on two ports of this machine.
  for (const n of [1, 2]) {
    const www = join(dir, `www-${n}`);
    mkdirSync(www);
    writeFileSync(join(www, "index.html"), `web server ${n}\n`);
    const port = await freePort();
    ports.push(port);
    servers.push(spawn("/bin/busybox", ["httpd", "-f", "-p", `127.0.0.1:${port}`, "-h", www], { stdio: "ignore" }));
  }
  mkdirSync(join(dir, "consul.d"));
  // Article 2's traefik.toml, as written (its :80 and :8080 given way to free ports by the flags).
  copyFileSync(fileURLToPath(new URL("../../src/router/testdata/article-2-traefik.toml", import.meta.url)), join(dir, "traefik.toml"));
  agent = await startAgentProcess([
    "-dev", "-http-port", "0", "-consul-port", "0", "-dns-port", "0", "-router-port", "0", "-router-dashboard-port", "0",
    "-datacenter", "europe-west1", "-config-dir", join(dir, "consul.d"), "-router-config", join(dir, "traefik.toml"),
  ]);
}, 60_000);

afterAll(async () => {
  await agent.stop();
  for (const s of servers) s.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

describe("the Consul + Traefik walkthrough", () => {
  it("registers two web servers from definition files and a reload; the catalog lists them; the router alternates between them", async () => {
    ports.forEach((port, i) => {
      // Article 2's web.json, one per instance (each its own ID and port on this one machine).
      writeFileSync(join(dir, "consul.d", `web-${i + 1}.json`), JSON.stringify({ service: { id: `demo-${i + 1}`, name: "demo", tags: ["traefik.tags=exposed"], port, address: "127.0.0.1" } }, null, 4));
    });
    // A service without the tag: kept out by the constraint.
    writeFileSync(join(dir, "consul.d", "internal.json"), JSON.stringify({ service: { name: "internal", port: ports[0] } }));
    const reload = await ruche(agent.address, dir, "agent", "reload");
    expect(reload.code, reload.err).toBe(0);

    const catalog = (await (await fetch(`http://${agent.consulAddress}/v1/catalog/service/demo?pretty`)).json()) as { ServiceID: string; ServicePort: number; ServiceTags: string[] }[];
    expect(catalog.map((e) => [e.ServiceID, e.ServicePort])).toEqual([["demo-1", ports[0]], ["demo-2", ports[1]]]);
    expect(catalog.every((e) => e.ServiceTags.includes("traefik.tags=exposed"))).toBe(true);

    const first = await until("the router to route demo.exemple.com", async () => {
      const r = await getThrough(agent.routerAddress, "demo.exemple.com");
      return r.status === 200 ? r : undefined;
    });
    const seen = [first.body];
    for (let i = 0; i < 5; i++) seen.push((await getThrough(agent.routerAddress, "demo.exemple.com")).body);
    // One and the other in turn.
    for (let i = 1; i < seen.length; i++) expect(seen[i]).not.toBe(seen[i - 1]);
    expect(new Set(seen)).toEqual(new Set(["web server 1", "web server 2"]));

    expect((await getThrough(agent.routerAddress, "internal.exemple.com")).status).toBe(404);
  }, 60_000);

  it("stops sending requests to an instance whose file is removed, from the reload on", async () => {
    unlinkSync(join(dir, "consul.d", "web-2.json"));
    const reload = await ruche(agent.address, dir, "agent", "reload");
    expect(reload.code, reload.err).toBe(0);
    const bodies = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const r = await getThrough(agent.routerAddress, "demo.exemple.com");
      expect(r.status).toBe(200);
      bodies.add(r.body);
    }
    expect([...bodies]).toEqual(["web server 1"]);
  }, 30_000);
});
