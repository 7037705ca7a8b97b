/**
 * An agent outside -dev, started with no option beyond its addresses, as a new user would:
 * it says at start what it leaves open, offers no raw_exec, refuses script checks through
 * the Consul API, and keeps its data dir to itself (user `nobody` reads nothing there). The
 * same agent with the config keys that turn them on (Nomad's and Consul's) offers them.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentProcess, NO_ACL_NO_TLS, startAgentProcess, until } from "./harness.js";

let dir = "";
const agents: AgentProcess[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ruche-safe-defaults-e2e-"));
});

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  rmSync(dir, { recursive: true, force: true });
});

async function start(name: string, ...extra: string[]): Promise<AgentProcess> {
  const a = await startAgentProcess([...NO_ACL_NO_TLS, "-server", "-client", "-bind", "127.0.0.1", "-data-dir", join(dir, name), "-node", name, "-http-port", "0", "-consul-port", "0", "-dns-port", "-1", ...extra]);
  agents.push(a);
  return a;
}

interface DriverInfo {
  Detected: boolean;
  Healthy: boolean;
  HealthDescription: string;
}

async function rawExecOf(a: AgentProcess): Promise<DriverInfo> {
  return until("the node's raw_exec fingerprint at the server", async () => {
    const nodes = (await (await fetch(`http://${a.address}/v1/nodes`)).json()) as { ID: string }[];
    const id = nodes[0]?.ID;
    if (id === undefined) return undefined;
    const node = (await (await fetch(`http://${a.address}/v1/node/${id}`)).json()) as { Drivers: Record<string, DriverInfo | undefined> };
    return node.Drivers.raw_exec;
  });
}

/** A service with a script check, registered through the Consul-compatible API as Consul's clients do. */
async function registerScriptCheck(a: AgentProcess): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://${a.consulAddress}/v1/agent/service/register`, {
    method: "PUT",
    body: JSON.stringify({ Name: "backup", Check: { Args: ["/bin/true"], Interval: "10s" } }),
  });
  return { status: res.status, text: await res.text() };
}

function readAsNobody(file: string): boolean {
  return spawnSync("cat", [file], { uid: 65534, gid: 65534 }).status === 0;
}

describe("an agent outside -dev", () => {
  it("with no option: says what it leaves open, offers no raw_exec, runs no caller's script, keeps its data dir to itself", async () => {
    const a = await start("plain");
    const block = a.out().slice(a.out().indexOf("    Security:"));
    expect(block).toContain("      bound to:      127.0.0.1: this machine only");
    expect(block).toContain('      raw_exec:      off (plugin "raw_exec" { config { enabled = true } } turns it on)');
    expect(block).toContain("      script checks: off (enable_script_checks, enable_local_script_checks)");
    expect(a.out()).toMatch(/^ {4}Node: +\S+ in datacenter dc1 \(drivers: docker, exec, java, containerd-driver, podman\)$/m);

    expect(await rawExecOf(a)).toMatchObject({ Detected: false, Healthy: false, HealthDescription: expect.stringMatching(/^disabled: /) as unknown });

    const refused = await registerScriptCheck(a);
    expect(refused.status).toBe(400);
    expect(refused.text).toContain("script checks are disabled on this agent (they run any command the caller sends); enable_script_checks = true (-enable-script-checks) in the agent config allows them");
    expect(((await (await fetch(`http://${a.consulAddress}/v1/agent/services`)).json()) as Record<string, unknown>).backup).toBeUndefined();

    const data = join(dir, "plain");
    const mode = (p: string): number => statSync(join(data, p)).mode & 0o777;
    expect({ dir: mode("."), state: mode("state.db"), wal: mode("state.db-wal"), client: mode("client"), node: mode("client/node.json") }).toEqual({ dir: 0o711, state: 0o600, wal: 0o600, client: 0o700, node: 0o600 });
    expect(readAsNobody(join(data, "state.db"))).toBe(false);
    expect(readAsNobody(join(data, "client", "node.json"))).toBe(false);
  });

  it("with the config keys that turn them on: offers raw_exec and takes script checks, and says so", async () => {
    const conf = join(dir, "open.hcl");
    writeFileSync(conf, 'enable_script_checks = true\nplugin "raw_exec" {\n  config { enabled = true }\n}\n');
    const a = await start("open", "-config", conf);
    expect(a.out()).toContain('      raw_exec:      on (plugin "raw_exec" { config { enabled = true } }): jobs may run any command as the agent\'s user');
    expect(a.out()).toContain("      script checks: on for the API and the config dir (enable_script_checks): callers of the API may run commands here");
    expect(await rawExecOf(a)).toMatchObject({ Detected: true, Healthy: true });
    expect((await registerScriptCheck(a)).status).toBe(200);
  });
});
