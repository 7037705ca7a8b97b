import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer as createHttpServer } from "node:http";
import { createServer, type Server } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusterCa, createKeyAndCsr, FEDERATION_DERIVED, FEDERATION_NO_ROTATION, fileCaSlot, issueServerCert, newJoinToken, signCsr, takeUpFederationCa } from "../pki/index.js";
import { FederationGossip, ownRegionOnly, soloCluster, type FederationMember } from "../server/index.js";
import { silentLogger, type Logger } from "../structs/index.js";
import { openClusterCa, type ClusterTlsContext } from "./cluster-tls.js";
import { federationPki, serverFederation, tlsProbe } from "./federation.js";
import { agentWire } from "./tls.js";

const cluster = soloCluster({ Name: "eu1", Region: "europe", Datacenter: "europe-west1", HTTPAddr: "127.0.0.1:4646", ConsulAddr: "", Build: "t", EtcdMember: "" });
const ours = { Name: "eu1", Region: "europe", Members: [] as FederationMember[] };

const dirs: string[] = [];
const servers: Server[] = [];
afterAll(async () => {
  for (const s of servers) s.close();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});
async function dir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "ruche-agent-fed-"));
  dirs.push(d);
  return d;
}

/** A real HTTPS server on 127.0.0.1:0 showing `cert`, asking for a client certificate of `ca`, answering the exchange as a server of `region`. */
async function peer(cert: { certPem: string; keyPem: string }, ca: string, region: string): Promise<string> {
  const s = createServer({ cert: cert.certPem, key: cert.keyPem, ca, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ Name: "x1", Region: region, Members: [{ Name: "x1", Region: region, Datacenter: `${region}-1`, HTTPAddr: "127.0.0.1:1", ConsulAddr: "", Build: "t", EtcdMember: "", Status: "alive", Leader: true }] }));
    });
  });
  servers.push(s);
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  return `127.0.0.1:${(s.address() as { port: number }).port}`;
}

function recorder(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log: Logger = { ...silentLogger, warn: (_o: object, msg?: string) => void lines.push(msg ?? ""), child: () => log } as Logger;
  return { log, lines };
}

describe("a server's federation over mutual TLS, one CA for the federation", () => {
  let europe: ClusterCa;
  let us: ClusterCa;
  let eu1: { certPem: string; keyPem: string };
  let root: string;
  beforeAll(async () => {
    europe = (await ClusterCa.open(await dir(), "europe")).ca;
    const usDir = await dir();
    await takeUpFederationCa(fileCaSlot(usDir), europe.federationRecord(), europe.digest());
    us = (await ClusterCa.open(usDir, "us", { key: { key: europe.clusterKey(), from: "test", keep: false } })).ca;
    eu1 = await issueServerCert(europe.ca(), { region: "europe", name: "eu1" });
    root = europe.ca().certPem;
  });

  it("probes a server of another region whose certificate names the region it answers for", async () => {
    const us1 = await issueServerCert(us.ca(), { region: "us", name: "us1" });
    const address = await peer(us1, root, "us");
    const refused: string[] = [];
    const answer = await tlsProbe({ ca: root, cert: eu1.certPem, key: eu1.keyPem }, (_a, r) => refused.push(r))(address, ours, AbortSignal.timeout(5000));
    expect((answer as { Region: string }).Region).toBe("us");
    expect(refused).toEqual([]);
  });

  it("refuses a server whose certificate names another region than the one it answers for, saying so", async () => {
    const liar = await issueServerCert(europe.ca(), { region: "europe", name: "eu9" });
    const address = await peer(liar, root, "us");
    const refused: string[] = [];
    await expect(tlsProbe({ ca: root, cert: eu1.certPem, key: eu1.keyPem }, (_a, r) => refused.push(r))(address, ours, AbortSignal.timeout(5000))).rejects.toThrow(
      /it says it is a server of region "us", but its certificate .* names a server of region europe only/,
    );
    expect(refused).toHaveLength(1);
  });

  it("refuses a server of another CA (a third region that made its own) and a node's certificate serving", async () => {
    const mars = (await ClusterCa.open(await dir(), "mars")).ca;
    const m1 = await issueServerCert(mars.ca(), { region: "mars", name: "m1" });
    const refused: string[] = [];
    const probe = tlsProbe({ ca: root, cert: eu1.certPem, key: eu1.keyPem }, (_a, r) => refused.push(r));
    await expect(probe(await peer(m1, mars.ca().certPem, "mars"), ours, AbortSignal.timeout(5000))).rejects.toThrow(/its certificate is signed by a CA this client does not trust \(SELF_SIGNED_CERT_IN_CHAIN\): it is not a server of this federation \(its CA is not the federation's\)/);
    const { csrPem, keyPem } = await createKeyAndCsr({ region: "us", role: "client", name: "n1" });
    const node = { certPem: await signCsr(europe.ca(), csrPem, { region: "us", role: "client", name: "n1" }), keyPem };
    await expect(probe(await peer(node, root, "us"), ours, AbortSignal.timeout(5000))).rejects.toThrow(/names no server of any region/);
    expect(refused).toHaveLength(2);
  });

  it("never falls back to plain HTTP: a server of another region that answers plain HTTP is refused, saying so", async () => {
    const plain = createHttpServer((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ Name: "p1", Region: "us", Members: [] })));
    await new Promise<void>((resolve) => plain.listen(0, "127.0.0.1", resolve));
    try {
      const refused: string[] = [];
      const address = `127.0.0.1:${(plain.address() as { port: number }).port}`;
      await expect(tlsProbe({ ca: root, cert: eu1.certPem, key: eu1.keyPem }, (_a, r) => refused.push(r))(address, ours, AbortSignal.timeout(5000))).rejects.toThrow(/the TLS handshake failed .*: this server speaks to other regions over mutual TLS only, never plain HTTP/);
      expect(refused).toHaveLength(1);
    } finally {
      plain.close();
    }
  });

  it("sends a request for a region only to a server whose certificate names that region (regionDial)", async () => {
    const files = await dir();
    const paths = { caFile: join(files, "ca.pem"), certFile: join(files, "eu1.pem"), keyFile: join(files, "eu1-key.pem") };
    await Promise.all([writeFile(paths.caFile, root), writeFile(paths.certFile, eu1.certPem), writeFile(paths.keyFile, eu1.keyPem)]);
    const wire = await agentWire({ enabled: true, ...paths, verifyServerHostname: true, verifyHttpsClient: false }, "europe");
    try {
      const usAddr = await peer(await issueServerCert(us.ca(), { region: "us", name: "us1" }), root, "us");
      const liarAddr = await peer(await issueServerCert(europe.ca(), { region: "europe", name: "eu7" }), root, "us");
      const dial = wire.api.regionDial?.("us");
      if (dial?.dispatcher === undefined) throw new Error("no region dial");
      const ok = await request(`https://${usAddr}/v1/internal/federation`, { method: "POST", body: "{}", dispatcher: dial.dispatcher });
      expect(ok.statusCode).toBe(200);
      await ok.body.text();
      await expect(request(`https://${liarAddr}/v1/internal/federation`, { method: "POST", body: "{}", dispatcher: dial.dispatcher })).rejects.toThrow(/server\.us\.ruche/);
    } finally {
      await wire.close();
    }
  });

  it("takes another server's pushed word only over TLS from a server of the region it claims, and logs a refusal", () => {
    const { log, lines } = recorder();
    const f = serverFederation(cluster, { tls: { ca: root, cert: eu1.certPem, key: eu1.keyPem }, seeds: [], log });
    const exchange = f.federation.exchange?.bind(f.federation);
    if (exchange === undefined) throw new Error("no exchange");
    const word = { Name: "us1", Region: "us", Members: [{ Name: "us1", Region: "us", Datacenter: "us-west-2", HTTPAddr: "127.0.0.1:2", Status: "alive" }] };
    const usPeer = { subject: "CN=us1", uris: ["spiffe://ruche/us/server/us1"], dnsNames: ["server.us.ruche"] };
    expect(() => exchange(word, { tls: false, address: "10.0.0.9" })).toThrow(/federates over mutual TLS only/);
    expect(() => exchange(word, { tls: true, address: "10.0.0.9" })).toThrow(/none was shown/);
    expect(() => exchange(word, { tls: true, address: "10.0.0.9", peer: { subject: "CN=eu2", uris: ["spiffe://ruche/europe/server/eu2"], dnsNames: [] } })).toThrow(/it says it is a server of region "us", but its certificate \(CN=eu2\) names a server of region europe only/);
    expect(lines.filter((l) => l.startsWith("federation: refused the server at 10.0.0.9"))).toHaveLength(3);
    expect((exchange(word, { tls: true, address: "10.0.0.8", peer: usPeer }) as { Region: string }).Region).toBe("europe");
    expect(f.federation.regions()).toEqual(["europe", "us"]);
  });

  it("refuses to rotate a CA the federation shares: made by another region, or federated with one", async () => {
    const alone = federationPki(europe, () => ownRegionOnly(() => cluster.self));
    const withUs = federationPki(europe, () => ({ ...ownRegionOnly(() => cluster.self), regions: () => ["europe", "us"] }));
    const took = federationPki(us, () => ownRegionOnly(() => ({ ...cluster.self, Region: "us" })));
    await expect(withUs.rotate?.()).rejects.toThrow(`${FEDERATION_NO_ROTATION} (this CA is federated with region us)`);
    await expect(took.rotate?.()).rejects.toThrow(`${FEDERATION_NO_ROTATION} (this CA is made by region europe)`);
    await expect(took.finish?.()).rejects.toThrow(FEDERATION_NO_ROTATION);
    expect(took.federationRecord?.().Current.Cert).toBe(root);
    // A region alone rotates as before.
    const before = europe.digest();
    await alone.rotate?.();
    expect(europe.digest()).not.toBe(before);
    await alone.finish?.();
  });
});

describe("a region's first server joining the federation's CA (-join-wan-token)", () => {
  const base = async (): Promise<ClusterTlsContext> => ({ dataDir: await dir(), region: "us", server: true, name: "us1", servers: [], bind: "127.0.0.1", networkIp: "127.0.0.1", log: silentLogger, wanPeers: ["127.0.0.1:1"] });

  it("takes the CA up at the first start only: a region with a CA of its own, servers on their own etcd members, and -join-token beside it are refused before anything is asked", async () => {
    const europe = (await ClusterCa.open(await dir(), "europe")).ca;
    const token = newJoinToken(europe.digest()).token;
    const own = await base();
    await ClusterCa.open(own.dataDir, "us");
    await expect(openClusterCa({ ...own, joinWanToken: token })).rejects.toThrow(/this region already has a cluster CA of its own .* not the federation's/);
    await expect(openClusterCa({ ...(await base()), ownEtcd: true, joinWanToken: token })).rejects.toThrow(`-join-wan-token: ${FEDERATION_DERIVED}`);
    await expect(openClusterCa({ ...(await base()), joinWanToken: token }, "RUCHE-1-x")).rejects.toThrow(/-join-wan-token and -join-token: .* keep one/);
    // Taken up already, with the key kept: opened without asking anyone (the peer here answers nothing).
    const again = await base();
    await takeUpFederationCa(fileCaSlot(again.dataDir), europe.federationRecord(), europe.digest());
    const ca = await openClusterCa({ ...again, encrypt: europe.clusterKey(), joinWanToken: token });
    expect(ca.digest()).toBe(europe.digest());
  });
});

describe("a server's federation with TLS off", () => {
  it("gossips over plain HTTP (other regions may join this one even when it joins none)", async () => {
    const f = serverFederation(cluster, { seeds: [], log: silentLogger });
    expect(f.federation).toBeInstanceOf(FederationGossip);
    f.start();
    await f.stop();
  });
});
