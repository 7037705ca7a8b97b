import { createSocket } from "node:dgram";
import { connect, createServer } from "node:net";
import * as packet from "dns-packet";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AclPrefixKind, type Acl } from "../structs/index.js";
import { startDns, type DnsServer } from "./index.js";
import { FakeCatalog } from "./testing.js";

type QType = packet.RecordType | "ANY";

function query(name: string, type: QType, edns?: number): Buffer {
  const additionals: packet.Answer[] =
    edns === undefined ? [] : [{ type: "OPT", name: ".", udpPayloadSize: edns, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }];
  // "ANY" is a valid qtype for dns-packet at run time; its types leave it out.
  return packet.encode({ type: "query", id: 4242, flags: packet.RECURSION_DESIRED, questions: [{ name, type: type as packet.RecordType, class: "IN" }], additionals });
}

function udpExchange(port: number, msg: Buffer, timeoutMs = 2000): Promise<Buffer | null> {
  const sock = createSocket("udp4");
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sock.close();
      resolve(null);
    }, timeoutMs);
    sock.on("error", (err) => {
      clearTimeout(timer);
      sock.close();
      reject(err);
    });
    sock.on("message", (reply) => {
      clearTimeout(timer);
      sock.close();
      resolve(reply);
    });
    sock.send(msg, port, "127.0.0.1");
  });
}

/**
 * Sends `msgs` in order from one socket and resolves with the first reply. The server reads
 * and answers a socket's datagrams one by one, in order: a reply to the last message that
 * comes first shows that none of the others had one.
 */
function firstUdpReply(port: number, msgs: Buffer[]): Promise<Buffer> {
  const sock = createSocket("udp4");
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sock.close();
      reject(new Error("no reply within 5s"));
    }, 5000);
    sock.on("error", (err) => {
      clearTimeout(timer);
      sock.close();
      reject(err);
    });
    sock.once("message", (reply) => {
      clearTimeout(timer);
      sock.close();
      resolve(reply);
    });
    for (const m of msgs) sock.send(m, port, "127.0.0.1");
  });
}

/** Whether nothing listens on `port` of 127.0.0.1 any more: this process can bind it, over UDP and TCP. */
async function portFree(port: number): Promise<boolean> {
  const udpFree = await new Promise<boolean>((resolve) => {
    const sock = createSocket("udp4");
    sock.once("error", () => {
      sock.close();
      resolve(false);
    });
    sock.bind(port, "127.0.0.1", () => {
      sock.close(() => {
        resolve(true);
      });
    });
  });
  const tcpFree = await new Promise<boolean>((resolve) => {
    const srv = createServer();
    srv.once("error", () => {
      resolve(false);
    });
    srv.listen(port, "127.0.0.1", () => {
      srv.close(() => {
        resolve(true);
      });
    });
  });
  return udpFree && tcpFree;
}

async function udp(port: number, name: string, type: QType, edns?: number): Promise<packet.DecodedPacket & { rcode?: string }> {
  const reply = await udpExchange(port, query(name, type, edns));
  if (reply === null) throw new Error(`no UDP answer for ${name} ${type}`);
  return packet.decode(reply);
}

/** Sends several length-prefixed queries on one TCP connection, in one write, and reads as many answers. */
function tcpExchange(port: number, msgs: Buffer[]): Promise<packet.DecodedPacket[]> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, "127.0.0.1");
    let buf = Buffer.alloc(0);
    const out: packet.DecodedPacket[] = [];
    sock.on("error", reject);
    sock.on("data", (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const size = buf.readUInt16BE(0);
        out.push(packet.decode(buf.subarray(2, 2 + size)));
        buf = buf.subarray(2 + size);
      }
      if (out.length === msgs.length) {
        sock.end();
        resolve(out);
      }
    });
    sock.write(Buffer.concat(msgs.map((m) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 0xff]), m]))));
  });
}

const ttlOf = (a: packet.Answer | undefined): unknown => (a as { ttl?: unknown } | undefined)?.ttl;
const rcode = (p: packet.DecodedPacket): unknown => (p as { rcode?: unknown }).rcode;
const data = (answers: packet.Answer[] | undefined, type: string): unknown[] =>
  (answers ?? []).filter((a) => a.type === type).map((a) => (a as { data: unknown }).data);

describe("dns", () => {
  let catalog: FakeCatalog;
  let server: DnsServer;

  beforeEach(async () => {
    catalog = new FakeCatalog("dc1");
    const n1 = catalog.node("node-1", "10.0.0.1");
    const n2 = catalog.node("node-2", "10.0.0.2");
    const n3 = catalog.node("node-3", "10.0.0.3");
    catalog.add("demo", n1, { port: 8080, tags: ["primary", "web"] });
    catalog.add("demo", n2, { port: 8081, address: "10.1.0.2", tags: ["web"], status: "warning" });
    catalog.add("demo", n3, { port: 8082, tags: ["primary"], status: "critical" });
    catalog.add("down", n1, { port: 9000, status: "critical" });
    server = await startDns({ host: "127.0.0.1", port: 0, catalog });
  });

  afterEach(async () => {
    await server.close();
  });

  it("binds port 0 to a real port", () => {
    expect(server.port).toBeGreaterThan(0);
  });

  it("answers A with the passing and warning instances, never critical ones", async () => {
    const r = await udp(server.port, "demo.service.consul", "A");
    expect(rcode(r)).toBe("NOERROR");
    expect(r.flag_aa).toBe(true);
    expect(r.id).toBe(4242);
    expect(data(r.answers, "A").sort()).toEqual(["10.0.0.1", "10.1.0.2"]);
    expect(r.answers?.[0]?.name).toBe("demo.service.consul");
    expect(ttlOf(r.answers?.[0])).toBe(0);
  });

  it("is case-insensitive and takes a trailing dot", async () => {
    const r = await udp(server.port, "DEMO.Service.CONSUL.", "A");
    expect(data(r.answers, "A").sort()).toEqual(["10.0.0.1", "10.1.0.2"]);
  });

  it("shuffles the instances", async () => {
    for (let i = 0; i < 8; i++) catalog.add("many", catalog.node(`m-${i}`, `10.2.0.${i}`), { port: 80 });
    const orders = new Set<string>();
    for (let i = 0; i < 10; i++) orders.add(data((await udp(server.port, "many.service.consul", "A")).answers, "A").join(","));
    expect(orders.size).toBeGreaterThan(1);
  });

  it("answers SRV with the instance's own address (.addr.) or its node as target, their addresses as additional records", async () => {
    const r = await udp(server.port, "demo.service.consul", "SRV");
    expect(rcode(r)).toBe("NOERROR");
    const srv = data(r.answers, "SRV") as packet.SrvData[];
    expect(srv.map((s) => `${s.priority} ${s.weight} ${s.port} ${s.target}`).sort()).toEqual([
      "1 1 8080 node-1.node.dc1.consul",
      "1 1 8081 0a010002.addr.dc1.consul",
    ]);
    const extra = (r.additionals ?? []).filter((a) => a.type === "A").map((a) => `${a.name} ${String((a as { data: unknown }).data)}`);
    expect(extra.sort()).toEqual(["0a010002.addr.dc1.consul 10.1.0.2", "node-1.node.dc1.consul 10.0.0.1"]);
  });

  it("filters by tag", async () => {
    const r = await udp(server.port, "primary.demo.service.consul", "A");
    expect(data(r.answers, "A")).toEqual(["10.0.0.1"]); // node-3 is primary too, but critical
    const none = await udp(server.port, "nosuchtag.demo.service.consul", "A");
    expect(rcode(none)).toBe("NXDOMAIN");
  });

  it("answers the RFC 2782 form, with _tcp meaning any tag", async () => {
    const tagged = await udp(server.port, "_demo._primary.service.consul", "SRV");
    expect((data(tagged.answers, "SRV") as packet.SrvData[]).map((s) => s.port)).toEqual([8080]);
    const any = await udp(server.port, "_demo._tcp.service.consul", "SRV");
    expect((data(any.answers, "SRV") as packet.SrvData[]).map((s) => s.port).sort()).toEqual([8080, 8081]);
  });

  it("answers node lookups, with or without the datacenter", async () => {
    expect(data((await udp(server.port, "node-2.node.consul", "A")).answers, "A")).toEqual(["10.0.0.2"]);
    expect(data((await udp(server.port, "node-2.node.dc1.consul", "A")).answers, "A")).toEqual(["10.0.0.2"]);
    expect(rcode(await udp(server.port, "nope.node.consul", "A"))).toBe("NXDOMAIN");
  });

  it("answers its own datacenter and NXDOMAIN for another", async () => {
    expect(data((await udp(server.port, "demo.service.dc1.consul", "A")).answers, "A")).toHaveLength(2);
    const other = await udp(server.port, "demo.service.dc2.consul", "A");
    expect(rcode(other)).toBe("NXDOMAIN");
    expect(other.answers).toHaveLength(0);
    expect(rcode(await udp(server.port, "node-1.node.dc2.consul", "A"))).toBe("NXDOMAIN");
  });

  it("answers NXDOMAIN with an SOA for unknown names and services with no healthy instance", async () => {
    for (const name of ["nosuch.service.consul", "down.service.consul", "what.ever.consul"]) {
      const r = await udp(server.port, name, "A");
      expect(rcode(r), name).toBe("NXDOMAIN");
      expect(r.answers, name).toHaveLength(0);
      const soa = data(r.authorities, "SOA") as packet.SoaData[];
      expect(soa, name).toHaveLength(1);
      expect(soa[0]).toMatchObject({ mname: "ns.consul", rname: "hostmaster.consul", refresh: 3600, retry: 600, expire: 86400, minimum: 0 });
      expect(Math.abs((soa[0]?.serial ?? 0) - Date.now() / 1000)).toBeLessThan(60);
    }
  });

  it("answers AAAA for an IPv4-only service with NOERROR, no answer and an SOA", async () => {
    const r = await udp(server.port, "demo.service.consul", "AAAA");
    expect(rcode(r)).toBe("NOERROR");
    expect(r.answers).toHaveLength(0);
    expect(data(r.authorities, "SOA")).toHaveLength(1);
  });

  it("answers AAAA for IPv6 instances, and NOERROR with an SOA for a type the name lacks", async () => {
    catalog.add("v6", catalog.node("node-6", "fd00::6"), { port: 80 });
    expect(data((await udp(server.port, "v6.service.consul", "AAAA")).answers, "AAAA")).toEqual(["fd00::6"]);
    const txt = await udp(server.port, "demo.service.consul", "TXT");
    expect(rcode(txt)).toBe("NOERROR");
    expect(txt.answers).toHaveLength(0);
    expect(data(txt.authorities, "SOA")).toHaveLength(1);
  });

  it("answers SOA at the apex of its domain", async () => {
    const r = await udp(server.port, "consul", "SOA");
    expect(rcode(r)).toBe("NOERROR");
    expect(data(r.answers, "SOA")).toHaveLength(1);
  });

  it("answers ANY with A records", async () => {
    const r = await udp(server.port, "demo.service.consul", "ANY");
    expect(data(r.answers, "A").sort()).toEqual(["10.0.0.1", "10.1.0.2"]);
  });

  it("refuses names outside its domain", async () => {
    const r = await udp(server.port, "example.com", "A");
    expect(rcode(r)).toBe("REFUSED");
    expect(r.answers).toHaveLength(0);
  });

  it("serves another domain when told to", async () => {
    const other = await startDns({ host: "127.0.0.1", port: 0, catalog, domain: "ruche.", config: { serviceTtlSeconds: { "*": 5 } } });
    try {
      const r = await udp(other.port, "demo.service.ruche", "A");
      expect(data(r.answers, "A")).toHaveLength(2);
      expect(ttlOf(r.answers?.[0])).toBe(5);
      expect(rcode(await udp(other.port, "demo.service.consul", "A"))).toBe("REFUSED");
    } finally {
      await other.close();
    }
  });

  it("answers several queries on one TCP connection", async () => {
    const [a, b, c] = await tcpExchange(server.port, [query("demo.service.consul", "A"), query("node-1.node.consul", "A"), query("demo.service.consul", "SRV")]);
    expect(data(a?.answers, "A").sort()).toEqual(["10.0.0.1", "10.1.0.2"]);
    expect(data(b?.answers, "A")).toEqual(["10.0.0.1"]);
    expect(data(c?.answers, "SRV")).toHaveLength(2);
    expect(data(c?.additionals, "A")).toHaveLength(2);
  });

  describe("a service too big for 512 bytes", () => {
    beforeEach(() => {
      for (let i = 0; i < 60; i++) catalog.add("big", catalog.node(`big-node-${i}`, `10.3.0.${i}`), { port: 7000 + i });
    });

    it("answers over UDP without EDNS with udp_answer_limit (3) answers, without TC, as Consul's defaults", async () => {
      const reply = await udpExchange(server.port, query("big.service.consul", "SRV"));
      expect(reply).not.toBeNull();
      expect(reply!.length).toBeLessThanOrEqual(512);
      const r = packet.decode(reply!);
      expect(r.flag_tc).toBe(false);
      const srv = data(r.answers, "SRV") as packet.SrvData[];
      expect(srv).toHaveLength(3);
      // The additional section keeps the records of the targets answered, and only those.
      expect((r.additionals ?? []).map((a) => a.name).sort()).toEqual(srv.map((s) => s.target).sort());
    });

    it("sets TC on a UDP answer it cut when enable_truncate is on", async () => {
      const truncating = await startDns({ host: "127.0.0.1", port: 0, catalog, config: { enableTruncate: true, udpAnswerLimit: 8 } });
      try {
        const r = packet.decode((await udpExchange(truncating.port, query("big.service.consul", "A")))!);
        expect(r.flag_tc).toBe(true);
        expect(data(r.answers, "A")).toHaveLength(8);
        const few = packet.decode((await udpExchange(truncating.port, query("demo.service.consul", "A")))!);
        expect(few.flag_tc).toBe(false);
      } finally {
        await truncating.close();
      }
    });

    it("uses the EDNS buffer size when the query carries one", async () => {
      const reply = await udpExchange(server.port, query("big.service.consul", "A", 4096));
      const r = packet.decode(reply!);
      expect(r.flag_tc).toBe(false);
      expect(data(r.answers, "A")).toHaveLength(60);
      expect((r.additionals ?? []).some((a) => a.type === "OPT")).toBe(true);

      const srv = packet.decode((await udpExchange(server.port, query("big.service.consul", "SRV", 1232)))!);
      expect(srv.flag_tc).toBe(false);
      expect(data(srv.answers, "SRV").length).toBeLessThan(60);
      expect(packet.encodingLength(srv)).toBeLessThanOrEqual(1232);
    });

    it("answers in full over TCP", async () => {
      const [r] = await tcpExchange(server.port, [query("big.service.consul", "SRV")]);
      expect(r?.flag_tc).toBe(false);
      expect(data(r?.answers, "SRV")).toHaveLength(60);
      expect(data(r?.additionals, "A")).toHaveLength(60);
    });
  });

  it("survives garbage: ignores what it cannot read, FORMERR where the header is readable", async () => {
    const first = packet.decode(await firstUdpReply(server.port, [Buffer.from([1, 2, 3]), query("demo.service.consul", "A")]));
    expect(first.id, "the first reply answers the query sent after the unreadable one").toBe(4242);
    const header = Buffer.from([0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff]);
    const formerr = await udpExchange(server.port, header);
    expect(formerr).not.toBeNull();
    const r = packet.decode(formerr!);
    expect(r.id).toBe(0x1234);
    expect(rcode(r)).toBe("FORMERR");
    for (let i = 0; i < 50; i++) {
      const junk = Buffer.from(Array.from({ length: 1 + ((i * 37) % 200) }, (_, k) => (i * 131 + k * 17) & 0xff));
      await udpExchange(server.port, junk, 20);
    }
    // garbage over TCP: a length prefix then noise
    await new Promise<void>((resolve) => {
      const s = connect(server.port, "127.0.0.1", () => s.end(Buffer.from([0x00, 0x05, 1, 2, 3, 4, 5])));
      s.on("close", () => {
        resolve();
      });
      s.on("error", () => {
        resolve();
      });
      s.resume();
    });
    // still alive, on both transports
    expect(data((await udp(server.port, "demo.service.consul", "A")).answers, "A")).toHaveLength(2);
    const [t] = await tcpExchange(server.port, [query("node-1.node.consul", "A")]);
    expect(data(t?.answers, "A")).toEqual(["10.0.0.1"]);
  });

  it("closes a TCP connection past 100 from one address at once, and answers another address", async () => {
    const from = (): Promise<ReturnType<typeof connect>> =>
      new Promise((resolve, reject) => {
        const s = connect({ port: server.port, host: "127.0.0.1", localAddress: "127.0.0.2" }, () => {
          resolve(s);
        });
        s.once("error", reject);
      });
    const held = await Promise.all(Array.from({ length: 100 }, from));
    try {
      const extra = await from();
      const got = await new Promise<{ bytes: number }>((resolve, reject) => {
        let bytes = 0;
        const t = setTimeout(() => {
          reject(new Error("the 101st connection was not closed within 5s"));
        }, 5_000);
        extra.on("data", (b: Buffer) => (bytes += b.length));
        extra.once("close", () => {
          clearTimeout(t);
          resolve({ bytes });
        });
        extra.once("error", () => undefined);
        extra.write(Buffer.concat([Buffer.from([0, query("node-1.node.consul", "A").length]), query("node-1.node.consul", "A")]));
      });
      expect(got.bytes).toBe(0);
      const [t] = await tcpExchange(server.port, [query("node-1.node.consul", "A")]);
      expect(data(t?.answers, "A")).toEqual(["10.0.0.1"]);
    } finally {
      for (const s of held) s.destroy();
    }
  });

  it("stops answering once closed", async () => {
    const s = await startDns({ host: "127.0.0.1", port: 0, catalog });
    await s.close();
    await s.close(); // twice is fine
    expect(await portFree(s.port)).toBe(true);
  });
});

describe("dns, when a row or the catalog is bad", () => {
  it("answers SERVFAIL at once when the catalog fails, and logs the error", async () => {
    const catalog = new FakeCatalog("dc1");
    catalog.add("demo", catalog.node("node-1", "10.0.0.1"), { port: 8080 });
    catalog.instances = () => {
      throw new TypeError("a broken catalog");
    };
    const errors: unknown[] = [];
    const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: (f: Record<string, unknown>) => errors.push(f.err) };
    const s = await startDns({ host: "127.0.0.1", port: 0, catalog, logger: log });
    try {
      const r = await udp(s.port, "demo.service.consul", "A");
      expect(rcode(r)).toBe("SERVFAIL");
      expect(r.questions).toEqual([expect.objectContaining({ name: "demo.service.consul", type: "A" })]);
      expect(errors).toEqual([expect.objectContaining({ message: "a broken catalog" })]);
      // The rest of the domain still answers.
      expect(data((await udp(s.port, "node-1.node.consul", "A")).answers, "A")).toEqual(["10.0.0.1"]);
    } finally {
      await s.close();
    }
  });

  it("leaves out of an SRV answer an instance whose node name cannot be a DNS name, and answers the others", async () => {
    const catalog = new FakeCatalog("dc1");
    catalog.add("demo", catalog.node("x".repeat(70), "10.0.0.9"), { port: 9999 });
    catalog.add("demo", catalog.node("node-1", "10.0.0.1"), { port: 8080 });
    const s = await startDns({ host: "127.0.0.1", port: 0, catalog });
    try {
      const r = await udp(s.port, "demo.service.consul", "SRV");
      expect(rcode(r)).toBe("NOERROR");
      expect(data(r.answers, "SRV")).toEqual([{ priority: 1, weight: 1, port: 8080, target: "node-1.node.dc1.consul" }]);
      expect(data(r.additionals, "A")).toEqual(["10.0.0.1"]);
    } finally {
      await s.close();
    }
  });
});

describe("dns, another datacenter", () => {
  it("answers NAME.service.DC and NODE.node.DC from that datacenter's catalog, NXDOMAIN with no path to it, SERVFAIL when it does not answer", async () => {
    const local = new FakeCatalog("europe-west1");
    local.add("demo", local.node("eu-node", "10.0.0.1"), { port: 8080 });
    const us = new FakeCatalog("us-west-2");
    us.add("demo", us.node("us-node", "10.1.0.1"), { port: 9090 });
    const asked: string[] = [];
    const errors: unknown[] = [];
    const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: (f: Record<string, unknown>) => errors.push(f.err) };
    const s = await startDns({
      host: "127.0.0.1",
      port: 0,
      catalog: local,
      logger: log,
      servers: () => [{ node: "eu-server", datacenter: "europe-west1", address: "10.0.9.1", port: 8500 }],
      otherDatacenter: async (dc) => {
        asked.push(dc);
        // The other datacenter answers after a round trip.
        await new Promise((r) => setTimeout(r, 50));
        if (dc === "broken") throw new Error("us-2 (127.0.0.1:1) did not answer");
        return dc === "us-west-2" ? us : null;
      },
    });
    try {
      const srv = await udp(s.port, "demo.service.us-west-2.consul", "SRV");
      expect(rcode(srv)).toBe("NOERROR");
      expect(data(srv.answers, "SRV")).toEqual([{ priority: 1, weight: 1, port: 9090, target: "us-node.node.us-west-2.consul" }]);
      expect(data((await udp(s.port, "us-node.node.us-west-2.consul", "A")).answers, "A")).toEqual(["10.1.0.1"]);
      // This datacenter's own, named or not, is answered here without asking.
      expect(data((await udp(s.port, "demo.service.europe-west1.consul", "A")).answers, "A")).toEqual(["10.0.0.1"]);
      expect(asked).toEqual(["us-west-2", "us-west-2"]);
      // consul.service of another datacenter is not this one's servers.
      expect(data((await udp(s.port, "consul.service.consul", "A")).answers, "A")).toEqual(["10.0.9.1"]);
      expect(rcode(await udp(s.port, "consul.service.us-west-2.consul", "A"))).toBe("NXDOMAIN");
      asked.length = 0;
      expect(rcode(await udp(s.port, "demo.service.nowhere.consul", "A"))).toBe("NXDOMAIN");
      expect(rcode(await udp(s.port, "demo.service.broken.consul", "A"))).toBe("SERVFAIL");
      expect(errors).toEqual([expect.objectContaining({ message: "us-2 (127.0.0.1:1) did not answer" })]);
      // Over TCP, the answers come back in the order of the questions, the slow one first.
      const answers = await tcpExchange(s.port, [query("demo.service.us-west-2.consul", "A"), query("demo.service.consul", "A")]);
      expect(answers.map((a) => data(a.answers, "A"))).toEqual([["10.1.0.1"], ["10.0.0.1"]]);
    } finally {
      await s.close();
    }
  });
});

describe("dns, prepared queries", () => {
  it("answers NAME.query[.DC].consul from the query's execution (A and SRV, the answering datacenter in the SRV target, the query's TTL); NXDOMAIN for no query or no instance, SERVFAIL when it fails", async () => {
    const local = new FakeCatalog("europe-west1");
    const asked: [string, string | null][] = [];
    const s = await startDns({
      host: "127.0.0.1",
      port: 0,
      catalog: local,
      preparedQuery: (name, dc) => {
        asked.push([name, dc]);
        if (name === "broken") return Promise.reject(new Error("us-1 did not answer"));
        if (name === "empty") return Promise.resolve({ datacenter: "europe-west1", instances: [] });
        if (name !== "web.v2") return Promise.resolve(null);
        // Failed over: the instances are us's.
        return Promise.resolve({ datacenter: "us-west-2", ttlSeconds: 10, instances: [{ node: "us-node", address: "10.1.0.1", port: 9090 }, { node: "us-node-2", address: "10.1.0.2", port: 9091 }] });
      },
    });
    try {
      const a = await udp(s.port, "web.v2.query.consul", "A");
      expect(rcode(a)).toBe("NOERROR");
      expect((data(a.answers, "A") as string[]).sort()).toEqual(["10.1.0.1", "10.1.0.2"]);
      expect(ttlOf(a.answers?.[0])).toBe(10);
      const srv = await udp(s.port, "WEB.v2.query.us-west-2.consul", "SRV");
      expect(data(srv.answers, "SRV")).toEqual([
        { priority: 1, weight: 1, port: 9090, target: "us-node.node.us-west-2.consul" },
        { priority: 1, weight: 1, port: 9091, target: "us-node-2.node.us-west-2.consul" },
      ]);
      expect(data(srv.additionals, "A")).toEqual(["10.1.0.1", "10.1.0.2"]);
      expect(asked.slice(0, 2)).toEqual([
        ["web.v2", null],
        ["web.v2", "us-west-2"],
      ]);
      expect(rcode(await udp(s.port, "nothing.query.consul", "A"))).toBe("NXDOMAIN");
      expect(rcode(await udp(s.port, "empty.query.consul", "A"))).toBe("NXDOMAIN");
      expect(rcode(await udp(s.port, "broken.query.consul", "A"))).toBe("SERVFAIL");
    } finally {
      await s.close();
    }
  });

  it("answers NXDOMAIN for NAME.query.consul when the server executes no queries", async () => {
    const s = await startDns({ host: "127.0.0.1", port: 0, catalog: new FakeCatalog() });
    try {
      expect(rcode(await udp(s.port, "web.query.consul", "A"))).toBe("NXDOMAIN");
    } finally {
      await s.close();
    }
  });
});

describe("dns, with the DNS token's ACL", () => {
  /** A token of Consul's rules `service_prefix "web" { policy = "read" }` and `node_prefix "n1" { policy = "read" }`. */
  const webOnN1: Acl = {
    management: false,
    namespace: () => false,
    allows: () => false,
    prefix: (kind, name, level) => level === "read" && ((kind === AclPrefixKind.Service && name.startsWith("web")) || (kind === AclPrefixKind.ConsulNode && name.startsWith("n1"))),
    variable: () => false,
  };

  it("leaves out what the token may not read: services, instances on nodes it may not read, nodes, PTR targets, servers; a prepared query gets its ACL", async () => {
    const c = new FakeCatalog();
    const n1 = c.node("n1", "10.0.0.1");
    const n2 = c.node("n2", "10.0.0.2");
    c.add("web", n1, { port: 80 });
    c.add("web", n2, { port: 80 });
    c.add("db", n1, { port: 5432, address: "10.0.1.1" });
    let acl: Acl = webOnN1;
    const given: (Acl | undefined)[] = [];
    const s = await startDns({
      host: "127.0.0.1",
      port: 0,
      catalog: c,
      servers: () => [{ node: "n1", datacenter: "dc1", address: "10.0.0.1", port: 8500 }],
      acl: () => acl,
      preparedQuery: (_name, _dc, a) => {
        given.push(a);
        return Promise.resolve(null);
      },
    });
    try {
      // web's instance on n2 is left out: Consul asks node:read of an instance's node too.
      expect(data((await udp(s.port, "web.service.consul", "A")).answers, "A")).toEqual(["10.0.0.1"]);
      expect(rcode(await udp(s.port, "db.service.consul", "A"))).toBe("NXDOMAIN");
      expect(data((await udp(s.port, "n1.node.consul", "A")).answers, "A")).toEqual(["10.0.0.1"]);
      expect(rcode(await udp(s.port, "n2.node.consul", "A"))).toBe("NXDOMAIN");
      expect(rcode(await udp(s.port, "2.0.0.10.in-addr.arpa", "PTR"))).toBe("NXDOMAIN");
      expect(rcode(await udp(s.port, "1.1.0.10.in-addr.arpa", "PTR"))).toBe("NXDOMAIN");
      // The servers are Consul's `consul` service: not readable here, so neither it nor NS records.
      expect(rcode(await udp(s.port, "consul.service.consul", "A"))).toBe("NXDOMAIN");
      expect((await udp(s.port, "consul", "NS")).answers).toEqual([]);
      // The address is in the name: answered whatever the token.
      expect(data((await udp(s.port, "0a000002.addr.consul", "A")).answers, "A")).toEqual(["10.0.0.2"]);
      await udp(s.port, "q.query.consul", "A");
      expect(given).toEqual([webOnN1]);

      // A token that no longer resolves: SERVFAIL, and the prepared query is not run.
      acl = { ...webOnN1, prefix: () => true, management: true };
      expect(data((await udp(s.port, "consul.service.consul", "A")).answers, "A")).toEqual(["10.0.0.1"]);
      const broken = (): Acl => {
        throw new Error("the DNS token is not found");
      };
      await s.close();
      const t = await startDns({
        host: "127.0.0.1",
        port: 0,
        catalog: c,
        acl: broken,
        preparedQuery: (_n, _d, a) => {
          given.push(a);
          return Promise.resolve(null);
        },
      });
      try {
        expect(rcode(await udp(t.port, "web.service.consul", "A"))).toBe("SERVFAIL");
        expect(rcode(await udp(t.port, "q.query.consul", "A"))).toBe("SERVFAIL");
        expect(given).toHaveLength(1);
      } finally {
        await t.close();
      }
    } finally {
      await s.close();
    }
  });
});
