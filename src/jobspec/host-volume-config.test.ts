import { describe, expect, it } from "vitest";
import { formatDiagnostic } from "./diagnostic.js";
import { parseAgentConfig } from "./agent-config.js";

async function flags(text: string, file = "agent.hcl"): Promise<Record<string, string[]>> {
  const r = await parseAgentConfig(text, file);
  if (!r.ok) throw new Error(r.diagnostics.map(formatDiagnostic).join("\n"));
  return Object.fromEntries(r.config.flags);
}

async function errors(text: string, file = "agent.hcl"): Promise<string[]> {
  const r = await parseAgentConfig(text, file);
  if (r.ok) throw new Error(`expected the file to be refused, got ${JSON.stringify(Object.fromEntries(r.config.flags))}`);
  return r.diagnostics.map(formatDiagnostic);
}

describe("client { host_volume } in an agent config file", () => {
  it("reads each host_volume as -host-volume NAME=PATH[:ro], in HCL and in JSON", async () => {
    const hcl = `client {
  enabled = true
  host_volume "data" {
    path      = "/srv/data"
    read_only = false
  }
  host_volume "certs" {
    path      = "/etc/ssl/certs"
    read_only = true
  }
}
`;
    expect(await flags(hcl)).toEqual({ client: ["true"], "host-volume": ["data=/srv/data", "certs=/etc/ssl/certs:ro"] });
    const json = JSON.stringify({ client: { enabled: true, host_volume: { data: { path: "/srv/data" }, certs: { path: "/etc/ssl/certs", read_only: true } } } });
    expect(await flags(json, "agent.json")).toEqual({ client: ["true"], "host-volume": ["data=/srv/data", "certs=/etc/ssl/certs:ro"] });
    // As Nomad's `agent -config` JSON prints it: a list of objects keyed by name.
    const listed = JSON.stringify({ client: [{ host_volume: [{ data: [{ path: "/srv/data", read_only: true }] }] }] });
    expect(await flags(listed, "agent.json")).toEqual({ "host-volume": ["data=/srv/data:ro"] });
  });

  it("refuses a host_volume without a label or a path, a relative path, an unknown key, a name twice, each at its line", async () => {
    const errs = await errors(`client {
  host_volume {
    path = "/x"
  }
  host_volume "a" {
    read_only = true
  }
  host_volume "b" {
    path = "srv/b"
  }
  host_volume "c" {
    path = "/srv/c"
    readonly = true
  }
  host_volume "d" {
    path = "/srv/d"
  }
  host_volume "d" {
    path = "/srv/d2"
  }
  host_volume "e f" {
    path = "/srv/e"
  }
}
`);
    expect(errs).toEqual([
      'agent.hcl:2:3: client.host_volume: a host_volume is a block with one label, its name: host_volume "data" { path = "/srv/data" }',
      'agent.hcl:5:3: client.host_volume.a: host_volume "a" needs path = "/absolute/path/on/the/node"',
      'agent.hcl:9:5: client.host_volume.b.path: path must be an absolute path on the node, got "srv/b"',
      'agent.hcl:13:5: client.host_volume.c.readonly: unknown key "readonly" in host_volume; did you mean "read_only"?',
      'agent.hcl:18:3: client.host_volume.d: host_volume "d" is declared twice',
      'agent.hcl:21:3: client.host_volume.e f: host_volume name "e f" must be 1 to 128 letters, digits, ".", "_" or "-" (and "[N]" after them for a per_alloc volume)',
    ]);
  });
});
