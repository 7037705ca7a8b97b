import { describe, expect, it } from "vitest";
import { exposureLines } from "./exposure.js";

describe("what the agent says it leaves open, at start", () => {
  it("-dev: this machine only, no tokens, no TLS, raw_exec on, script checks off", () => {
    expect(exposureLines({ dev: true, bind: "127.0.0.1", server: true, client: true, rawExec: true, scriptChecks: false, localScriptChecks: false })).toEqual([
      "    Security:",
      "      bound to:      127.0.0.1: this machine only",
      "      ACLs:          off: this agent checks no tokens (anyone who reaches the API may use all of it)",
      "      TLS:           off: plain HTTP",
      "      nodes:         this agent's own only (-dev)",
      "      raw_exec:      on (-dev): jobs may run any command as the agent's user",
      "      script checks: off (enable_script_checks, enable_local_script_checks)",
    ]);
  });

  it("a client on every interface, raw_exec left off; a server with script checks from its files only", () => {
    expect(exposureLines({ dev: false, bind: "0.0.0.0", server: false, client: true, acl: true, tls: true, rawExec: false, scriptChecks: false, localScriptChecks: false })).toEqual([
      "    Security:",
      "      bound to:      0.0.0.0: every interface of this machine (-bind or bind_addr names one)",
      "      ACLs:          on: requests need a token with the right policy",
      "      TLS:           on: HTTPS, mutual TLS between agents",
      '      raw_exec:      off (plugin "raw_exec" { config { enabled = true } } turns it on)',
    ]);
    const server = exposureLines({ dev: false, bind: "10.0.0.5", server: true, client: false, acl: false, tls: false, rawExec: false, scriptChecks: false, localScriptChecks: true });
    expect(server).toContain("      bound to:      10.0.0.5 (-bind or bind_addr)");
    expect(server).toContain("      ACLs:          off (acl { enabled = false }): anyone who reaches the API may use all of it");
    expect(server).toContain("      TLS:           off (tls { enabled = false }): plain HTTP");
    expect(server).toContain("      script checks: on for the config dir's files only (enable_local_script_checks); refused through the API");
    expect(server).toContain("      nodes:         anyone who reaches the API may register a node, and be sent allocations and their secrets (ACLs and TLS off)");
    expect(server.some((l) => l.includes("raw_exec"))).toBe(false);
  });

  it("a server that runs an etcd member says its listeners are plain HTTP", () => {
    const lines = exposureLines({ dev: false, bind: "10.0.0.5", server: true, client: false, acl: true, tls: true, rawExec: false, scriptChecks: false, localScriptChecks: false, etcd: "http://10.0.0.5:4647 (clients), http://10.0.0.5:4648 (peers)" });
    expect(lines).toContain("      etcd:          plain HTTP without authentication on http://10.0.0.5:4647 (clients), http://10.0.0.5:4648 (peers): whoever reaches them reads and writes the whole state; keep them on a private network");
  });

  it("a server whose etcd member speaks TLS with client certificates says so", () => {
    const lines = exposureLines({ dev: false, bind: "10.0.0.5", server: true, client: false, acl: true, tls: true, rawExec: false, scriptChecks: false, localScriptChecks: false, etcd: "https://10.0.0.5:4647 (clients), https://10.0.0.5:4648 (peers)", etcdTls: true });
    expect(lines).toContain("      etcd:          TLS with client certificates on https://10.0.0.5:4647 (clients), https://10.0.0.5:4648 (peers): only the servers' certificates of the cluster's CA reach the state");
  });

  it("a server on an external etcd says how it reaches it: plain HTTP, TLS, TLS with a client certificate", () => {
    const base = { dev: false, bind: "10.0.0.5", server: true, client: false, acl: true, tls: true, rawExec: false, scriptChecks: false, localScriptChecks: false };
    const etcdLine = (externalEtcd: { endpoints: string[]; ca: boolean; clientCert: boolean }): string | undefined => exposureLines({ ...base, externalEtcd }).find((l) => l.startsWith("      etcd:"));
    expect(etcdLine({ endpoints: ["http://10.0.0.9:2379", "http://10.0.0.10:2379"], ca: false, clientCert: false })).toBe("      etcd:          http://10.0.0.9:2379, http://10.0.0.10:2379, plain HTTP: whoever reaches it reads and writes the whole state; keep it on a private network, or give https:// endpoints with -etcd-cacert");
    expect(etcdLine({ endpoints: ["https://10.0.0.9:2379"], ca: true, clientCert: false })).toBe("      etcd:          https://10.0.0.9:2379, TLS without a client certificate: the members' certificates checked against -etcd-cacert; this server shows none (-etcd-cert, -etcd-key)");
    expect(etcdLine({ endpoints: ["https://10.0.0.9:2379"], ca: true, clientCert: true })).toBe("      etcd:          https://10.0.0.9:2379, TLS with a client certificate (-etcd-cert): the members' certificates checked against -etcd-cacert");
    expect(exposureLines(base).some((l) => l.includes("etcd"))).toBe(false);
  });
});
