/**
 * The DNS interface asked with the real `dig` (Debian's dnsutils), as a user asks Consul's:
 * each name form, `dig -x`, SOA and NS, the TTLs of `dns_config`, and truncation over UDP
 * with dig's own retry over TCP.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDns, type DnsServer } from "./index.js";
import type { QueryAnswer } from "./resolve.js";
import { FakeCatalog } from "./testing.js";

const exec = promisify(execFile);

/** dig against a server of ours; dig must be installed (scripts/test-deps.sh installs dnsutils). */
async function dig(port: number, ...args: string[]): Promise<string> {
  try {
    return (await exec("dig", ["@127.0.0.1", "-p", String(port), "+tries=1", "+time=5", ...args], { timeout: 20_000 })).stdout;
  } catch (err) {
    if ((err as { code?: unknown }).code === "ENOENT") throw new Error("dig is not installed: scripts/test-deps.sh installs it (Debian package dnsutils)", { cause: err });
    throw err;
  }
}

/** dig's full output read back: the status, the header flags, and each section's records as [name, ttl, class, type, data...]. */
interface DigAnswer {
  status: string;
  flags: string[];
  answer: string[][];
  authority: string[][];
  additional: string[][];
  text: string;
}

function read(text: string): DigAnswer {
  const out: DigAnswer = { status: "", flags: [], answer: [], authority: [], additional: [], text };
  let section: "answer" | "authority" | "additional" | null = null;
  for (const line of text.split("\n")) {
    const status = /status: (\w+)/.exec(line);
    if (status?.[1] !== undefined) out.status = status[1];
    const flags = /^;; flags: ([^;]*);/.exec(line);
    if (flags?.[1] !== undefined) out.flags = flags[1].trim().split(/\s+/);
    if (line.startsWith(";; ANSWER SECTION:")) section = "answer";
    else if (line.startsWith(";; AUTHORITY SECTION:")) section = "authority";
    else if (line.startsWith(";; ADDITIONAL SECTION:")) section = "additional";
    else if (line.trim() === "" || line.startsWith(";")) {
      if (line.trim() === "") section = null;
    } else if (section !== null) out[section].push(line.trim().split(/\s+/));
  }
  return out;
}

/** The records of one type of a section, as "name data..." strings. */
function records(section: string[][], type: string): string[] {
  return section.filter((r) => r[3] === type).map((r) => [r[0], ...r.slice(4)].join(" "));
}

function ttls(section: string[][], type: string): number[] {
  return section.filter((r) => r[3] === type).map((r) => Number(r[1]));
}

const queries: Record<string, QueryAnswer> = {
  "web-q": {
    datacenter: "dc1",
    service: "web",
    instances: [
      { node: "node-2", address: "10.1.0.2", ownAddress: "10.1.0.2", port: 8081, weight: 4 },
      { node: "node-1", address: "10.0.0.1", ownAddress: "", port: 8080 },
    ],
  },
};

let catalog: FakeCatalog;
let server: DnsServer;
let truncating: DnsServer;

beforeAll(async () => {
  catalog = new FakeCatalog("dc1");
  const n1 = catalog.node("node-1", "10.0.0.1");
  const n2 = catalog.node("node-2", "10.0.0.2");
  catalog.node("node-6", "fd00::6");
  catalog.add("web", n1, { port: 8080, tags: ["primary"] });
  catalog.add("web", n2, { port: 8081, address: "10.1.0.2", tags: ["canary"] });
  catalog.add("web6", n1, { port: 9000, address: "fd00::12" });
  catalog.add("db-main", n2, { port: 5432 });
  catalog.add("other", n1, { port: 1 });
  catalog.add("ext", n1, { port: 443, address: "db.example.com" });
  catalog.add("warm", n1, { port: 2, status: "warning", weights: { Passing: 10, Warning: 3 } });
  catalog.add("weighted", n1, { port: 3, weights: { Passing: 10, Warning: 3 } });
  for (let i = 0; i < 60; i++) catalog.add("big", catalog.node(`big-node-${i}`, `10.3.0.${i}`), { port: 7000 + i });
  const servers = [
    { node: "server-1", datacenter: "dc1", address: "10.0.9.1", port: 8500 },
    { node: "server-2", datacenter: "dc1", address: "10.0.9.2", port: 8500 },
  ];
  server = await startDns({
    host: "127.0.0.1",
    port: 0,
    catalog,
    servers: () => servers,
    preparedQuery: (name) => Promise.resolve(queries[name] ?? null),
    config: { nodeTtlSeconds: 30, serviceTtlSeconds: { web: 10, "db-*": 20, "*": 5 } },
  });
  truncating = await startDns({ host: "127.0.0.1", port: 0, catalog, config: { enableTruncate: true, onlyPassing: true } });
});

afterAll(async () => {
  await server.close();
  await truncating.close();
});

describe("dig against the DNS interface", () => {
  it("names an instance's own address as its SRV target (<hex>.addr.DC.consul), its node otherwise, with the addresses in the additional section", async () => {
    const r = read(await dig(server.port, "web.service.consul", "SRV"));
    expect(r.status).toBe("NOERROR");
    expect(r.flags).toContain("aa");
    expect(records(r.answer, "SRV").sort()).toEqual(["web.service.consul. 1 1 8080 node-1.node.dc1.consul.", "web.service.consul. 1 1 8081 0a010002.addr.dc1.consul."]);
    expect(records(r.additional, "A").sort()).toEqual(["0a010002.addr.dc1.consul. 10.1.0.2", "node-1.node.dc1.consul. 10.0.0.1"]);

    const v6 = read(await dig(server.port, "web6.service.consul", "SRV"));
    expect(records(v6.answer, "SRV")).toEqual(["web6.service.consul. 1 1 9000 fd000000000000000000000000000012.addr.dc1.consul."]);
    expect(records(v6.additional, "AAAA")).toEqual(["fd000000000000000000000000000012.addr.dc1.consul. fd00::12"]);
  });

  it("answers .addr. names with the address they encode, with or without the datacenter, NXDOMAIN for one that encodes none", async () => {
    expect((await dig(server.port, "+short", "c000020a.addr.dc1.consul", "A")).trim()).toBe("192.0.2.10");
    expect((await dig(server.port, "+short", "c000020a.addr.consul", "A")).trim()).toBe("192.0.2.10");
    expect((await dig(server.port, "+short", "fd000000000000000000000000000012.addr.dc1.consul", "AAAA")).trim()).toBe("fd00::12");
    const r = read(await dig(server.port, "0a010002.addr.dc1.consul", "A"));
    expect(ttls(r.answer, "A")).toEqual([30]); // node_ttl
    const bad = read(await dig(server.port, "zz.addr.dc1.consul", "A"));
    expect(bad.status).toBe("NXDOMAIN");
    expect(records(bad.authority, "SOA")).toHaveLength(1);
  });

  it("answers dig -x with the node of an address, else the service registered with it", async () => {
    expect((await dig(server.port, "+short", "-x", "10.0.0.1")).trim()).toBe("node-1.node.dc1.consul.");
    expect((await dig(server.port, "+short", "-x", "10.1.0.2")).trim()).toBe("web.service.dc1.consul.");
    expect((await dig(server.port, "+short", "-x", "fd00::6")).trim()).toBe("node-6.node.dc1.consul.");
    const none = read(await dig(server.port, "-x", "192.0.2.99"));
    expect(none.status).toBe("NXDOMAIN");
    expect(records(none.authority, "SOA")).toHaveLength(1);
  });

  it("answers consul.service.consul with the servers", async () => {
    expect((await dig(server.port, "+short", "consul.service.consul", "A")).trim().split("\n").sort()).toEqual(["10.0.9.1", "10.0.9.2"]);
    const srv = read(await dig(server.port, "consul.service.consul", "SRV"));
    expect(records(srv.answer, "SRV").sort()).toEqual(["consul.service.consul. 1 1 8500 server-1.node.dc1.consul.", "consul.service.consul. 1 1 8500 server-2.node.dc1.consul."]);
    expect(records(srv.additional, "A").sort()).toEqual(["server-1.node.dc1.consul. 10.0.9.1", "server-2.node.dc1.consul. 10.0.9.2"]);
    expect(read(await dig(truncating.port, "consul.service.consul", "A")).status).toBe("NXDOMAIN"); // a server told of no servers
  });

  it("answers NS and SOA for the domain, the servers as name servers with their addresses", async () => {
    const ns = read(await dig(server.port, "consul", "NS"));
    expect(ns.status).toBe("NOERROR");
    expect(records(ns.answer, "NS").sort()).toEqual(["consul. server-1.node.dc1.consul.", "consul. server-2.node.dc1.consul."]);
    expect(ttls(ns.answer, "NS")).toEqual([30, 30]);
    expect(records(ns.additional, "A").sort()).toEqual(["server-1.node.dc1.consul. 10.0.9.1", "server-2.node.dc1.consul. 10.0.9.2"]);

    const soa = read(await dig(server.port, "consul", "SOA"));
    expect(soa.status).toBe("NOERROR");
    const [record] = records(soa.answer, "SOA");
    expect(record).toMatch(/^consul\. ns\.consul\. hostmaster\.consul\. \d+ 3600 600 86400 0$/);
    expect(records(soa.authority, "NS")).toHaveLength(2);
    // SOA and NS questions are the domain's, whatever the name, as Consul answers them.
    expect(records(read(await dig(server.port, "web.service.consul", "SOA")).answer, "SOA")).toHaveLength(1);
  });

  it("puts the SOA in the authority section of NXDOMAIN and of an empty answer", async () => {
    const nx = read(await dig(server.port, "nosuch.service.consul", "A"));
    expect(nx.status).toBe("NXDOMAIN");
    expect(nx.answer).toEqual([]);
    expect(records(nx.authority, "SOA")[0]).toMatch(/^consul\. ns\.consul\. hostmaster\.consul\. /);
    const empty = read(await dig(server.port, "web.service.consul", "AAAA"));
    expect(empty.status).toBe("NOERROR");
    expect(empty.answer).toEqual([]);
    expect(records(empty.authority, "SOA")).toHaveLength(1);
  });

  it("answers TAG.NAME.service.consul and RFC 2782's _NAME._TAG.service.consul", async () => {
    expect((await dig(server.port, "+short", "primary.web.service.consul", "SRV")).trim()).toBe("1 1 8080 node-1.node.dc1.consul.");
    expect((await dig(server.port, "+short", "_web._canary.service.consul", "SRV")).trim()).toBe("1 1 8081 0a010002.addr.dc1.consul.");
    expect((await dig(server.port, "+short", "_web._tcp.service.consul", "SRV")).trim().split("\n")).toHaveLength(2);
    // Consul's RFC 2782 form takes ".service" as optional.
    expect((await dig(server.port, "+short", "_web._canary.dc1.consul", "SRV")).trim()).toBe("1 1 8081 0a010002.addr.dc1.consul.");
    expect((await dig(server.port, "+short", "_web._tcp.consul", "SRV")).trim().split("\n")).toHaveLength(2);
    expect((await dig(server.port, "+short", "canary.web.service.dc1.consul", "A")).trim()).toBe("10.1.0.2");
    expect(read(await dig(server.port, "nosuch.web.service.consul", "A")).status).toBe("NXDOMAIN");
  });

  it("answers NAME.query.consul from the prepared query, SRV targets as a service's", async () => {
    const r = read(await dig(server.port, "web-q.query.consul", "SRV"));
    expect(records(r.answer, "SRV").sort()).toEqual(["web-q.query.consul. 1 1 8080 node-1.node.dc1.consul.", "web-q.query.consul. 1 4 8081 0a010002.addr.dc1.consul."]);
    expect(ttls(r.answer, "SRV")).toEqual([10, 10]); // the service_ttl of the query's service
    expect((await dig(server.port, "+short", "web-q.query.consul", "A")).trim().split("\n").sort()).toEqual(["10.0.0.1", "10.1.0.2"]);
    expect(read(await dig(server.port, "nosuch.query.consul", "A")).status).toBe("NXDOMAIN");
  });

  it("answers NODE.node.consul with node_ttl", async () => {
    const r = read(await dig(server.port, "node-2.node.consul", "A"));
    expect(records(r.answer, "A")).toEqual(["node-2.node.consul. 10.0.0.2"]);
    expect(ttls(r.answer, "A")).toEqual([30]);
    expect((await dig(server.port, "+short", "node-2.node.dc1.consul", "A")).trim()).toBe("10.0.0.2");
  });

  it("gives each service its service_ttl: its own, else the longest prefix*, else *", async () => {
    expect(ttls(read(await dig(server.port, "web.service.consul", "A")).answer, "A")).toEqual([10, 10]);
    expect(ttls(read(await dig(server.port, "db-main.service.consul", "A")).answer, "A")).toEqual([20]);
    expect(ttls(read(await dig(server.port, "other.service.consul", "A")).answer, "A")).toEqual([5]);
    // Without service_ttl, 0, as Consul.
    expect(ttls(read(await dig(truncating.port, "other.service.consul", "A")).answer, "A")).toEqual([0]);
  });

  it("answers a service whose address is a host name with a CNAME, and that name as its SRV target", async () => {
    expect(records(read(await dig(server.port, "ext.service.consul", "A")).answer, "CNAME")).toEqual(["ext.service.consul. db.example.com."]);
    expect((await dig(server.port, "+short", "ext.service.consul", "SRV")).trim()).toBe("1 1 443 db.example.com.");
  });

  it("weighs SRV records by the instance's Weights: Passing when its checks pass, Warning when one warns", async () => {
    expect((await dig(server.port, "+short", "weighted.service.consul", "SRV")).trim()).toBe("1 10 3 node-1.node.dc1.consul.");
    expect((await dig(server.port, "+short", "warm.service.consul", "SRV")).trim()).toBe("1 3 2 node-1.node.dc1.consul.");
  });

  it("leaves out warning instances with only_passing", async () => {
    expect((await dig(server.port, "+short", "warm.service.consul", "A")).trim()).toBe("10.0.0.1");
    expect(read(await dig(truncating.port, "warm.service.consul", "A")).status).toBe("NXDOMAIN");
  });

  describe("truncation", () => {
    it("cuts a UDP answer without EDNS to udp_answer_limit (3) answers, without TC, as Consul's defaults", async () => {
      const r = read(await dig(server.port, "+notcp", "+noedns", "big.service.consul", "A"));
      expect(r.flags).not.toContain("tc");
      expect(records(r.answer, "A")).toHaveLength(3);
    });

    it("sets TC with enable_truncate, and dig asks again over TCP, which answers in full", async () => {
      const cut = read(await dig(truncating.port, "+notcp", "+noedns", "+ignore", "big.service.consul", "A"));
      expect(cut.flags).toContain("tc");
      expect(records(cut.answer, "A")).toHaveLength(3);

      const retried = await dig(truncating.port, "+notcp", "+noedns", "big.service.consul", "A");
      expect(retried).toContain("Truncated, retrying in TCP mode");
      expect(records(read(retried).answer, "A")).toHaveLength(60);

      // With dig's EDNS buffer (1232 bytes) 60 SRV records and their addresses do not fit either.
      const srvCut = read(await dig(truncating.port, "+notcp", "+ignore", "big.service.consul", "SRV"));
      expect(srvCut.flags).toContain("tc");
      expect(records(srvCut.answer, "SRV").length).toBeLessThan(60);
      expect(records(srvCut.additional, "A")).toHaveLength(records(srvCut.answer, "SRV").length);
      const srv = read(await dig(truncating.port, "+notcp", "big.service.consul", "SRV"));
      expect(records(srv.answer, "SRV")).toHaveLength(60);
      expect(records(srv.additional, "A")).toHaveLength(60);
    });

    it("answers in full over TCP at once", async () => {
      const r = read(await dig(server.port, "+tcp", "big.service.consul", "SRV"));
      expect(r.flags).not.toContain("tc");
      expect(records(r.answer, "SRV")).toHaveLength(60);
      expect(records(r.additional, "A")).toHaveLength(60);
    });
  });
});
