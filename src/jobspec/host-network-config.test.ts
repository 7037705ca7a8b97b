import { describe, expect, it } from "vitest";
import { formatDiagnostic } from "./diagnostic.js";
import { parseAgentConfig } from "./agent-config.js";
import { parseHostNetworkFlag } from "./host-network-config.js";

async function hostNetworkFlags(text: string, file = "agent.hcl"): Promise<string[] | undefined> {
  const r = await parseAgentConfig(text, file);
  if (!r.ok) throw new Error(r.diagnostics.map(formatDiagnostic).join("\n"));
  return r.config.flags.get("host-network");
}

async function errors(text: string): Promise<string[]> {
  const r = await parseAgentConfig(text, "agent.hcl");
  if (r.ok) throw new Error(`expected the file to be refused, got ${JSON.stringify(Object.fromEntries(r.config.flags))}`);
  return r.diagnostics.map(formatDiagnostic);
}

describe("client { host_network } in the agent config", () => {
  it("reads several host networks, HCL and JSON alike, into -host-network values", async () => {
    const hcl = `client {
  host_network "public" {
    cidr           = "203.0.113.0/24, 198.51.100.0/24"
    reserved_ports = "22, 80"
  }
  host_network "private" {
    interface = "eth1"
  }
  host_network "lo" {
    cidr = "127.0.0.0/8"
  }
}
`;
    const expected = ["public cidr=203.0.113.0/24,198.51.100.0/24 reserved_ports=22,80", "private interface=eth1", "lo cidr=127.0.0.0/8"];
    expect(await hostNetworkFlags(hcl)).toEqual(expected);
    const json = JSON.stringify({ client: { host_network: { public: { cidr: "203.0.113.0/24, 198.51.100.0/24", reserved_ports: "22, 80" }, private: { interface: "eth1" }, lo: { cidr: "127.0.0.0/8" } } } });
    expect(await hostNetworkFlags(json, "agent.json")).toEqual(expected);
  });

  it("reads each value back into Nomad's ClientHostNetworkConfig", () => {
    expect(parseHostNetworkFlag("public cidr=203.0.113.0/24,198.51.100.0/24 reserved_ports=22,80")).toEqual({ Name: "public", CIDR: "203.0.113.0/24,198.51.100.0/24", Interface: "", ReservedPorts: "22,80" });
    expect(parseHostNetworkFlag("private interface=eth1")).toEqual({ Name: "private", CIDR: "", Interface: "eth1", ReservedPorts: "" });
    expect(parseHostNetworkFlag("x mtu=9000")).toMatch(/unknown setting "mtu"/);
  });

  it("refuses what is wrong, saying what and where", async () => {
    const cases: [string, RegExp][] = [
      [`client {\n  host_network "pub" {\n    cidr = "10.0.0.0/33"\n  }\n}\n`, /agent\.hcl:2:3: .*host_network "pub": cidr "10\.0\.0\.0\/33" is not a CIDR block/],
      [`client {\n  host_network "pub" {\n    cidr = "10.0.0.1"\n  }\n}\n`, /cidr "10\.0\.0\.1" is not a CIDR block/],
      [`client {\n  host_network "pub" {\n    reserved_ports = "22,http"\n  }\n}\n`, /reserved_ports "22,http" must be a list of ports/],
      [`client {\n  host_network "pub" {\n    reserved_ports = "70000"\n  }\n}\n`, /reserved_ports "70000" is not a port/],
      [`client {\n  host_network "pub" {\n    interface = "{{ GetDefaultInterfaces | attr \\"name\\" }}"\n  }\n}\n`, /go-sockaddr template/],
      [`client {\n  host_network "pub" {\n    cidrs = "10.0.0.0/8"\n  }\n}\n`, /agent\.hcl:3:5: .*unknown key "cidrs" in host_network; did you mean "cidr"\?/],
      [`client {\n  host_network "pub" {\n    cidr = 10\n  }\n}\n`, /cidr must be a string, got 10/],
      [`client {\n  host_network {\n    cidr = "10.0.0.0/8"\n  }\n}\n`, /a host_network is a block with one label/],
      [`client {\n  host_network "a b" {\n  }\n}\n`, /host_network name "a b" must be/],
      [`client {\n  host_network "default" {\n    cidr = "10.0.0.0/8"\n  }\n}\n`, /"default" is the node's own address/],
      [`client {\n  host_network "pub" {\n    cidr = "10.0.0.0/8"\n  }\n  host_network "pub" {\n    cidr = "10.1.0.0/16"\n  }\n}\n`, /agent\.hcl:5:3: .*host_network "pub" is declared twice/],
    ];
    for (const [text, says] of cases) expect((await errors(text)).join("\n")).toMatch(says);
  });
});
