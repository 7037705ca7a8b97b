/**
 * What a server without etcd data does with the answers of its `retry_join` servers: wait,
 * form a new cluster (the same one on every server), start as a member already added, join a
 * running cluster, or refuse, saying why.
 */
import { describe, expect, it } from "vitest";
import { joinAddress, parseJoinRequest, parsePeer, type EtcdPeer } from "./etcd-join.js";
import { advertiseHost, bootstrapPlan } from "./etcd-member.js";

const peerURL = (n: number) => `http://127.0.0.1:${4648 + 100 * n}`;
const self = { Name: "b", Region: "europe", PeerURL: peerURL(2) };
function peer(name: string, n: number, extra: Partial<EtcdPeer> = {}): { addr: string; peer: EtcdPeer } {
  return { addr: `127.0.0.1:${4646 + 100 * n}`, peer: { Name: name, Region: "europe", PeerURL: peerURL(n), ClientURL: `http://127.0.0.1:${4647 + 100 * n}`, Running: false, ...extra } };
}

describe("bootstrapPlan", () => {
  it("waits until bootstrap_expect servers answered, itself included", () => {
    const plan = bootstrapPlan(self, [peer("b", 2), peer("a", 1)], 3);
    expect(plan).toEqual({ kind: "wait", reason: "2 of the 3 servers expected answered (b, a)" });
  });

  it("forms a new cluster of the servers sorted by name, the same on every server", () => {
    const answers = [peer("c", 3), peer("b", 2), peer("a", 1)];
    const fromB = bootstrapPlan(self, answers, 3);
    const fromA = bootstrapPlan({ Name: "a", Region: "europe", PeerURL: peerURL(1) }, [...answers].reverse(), 3);
    const expected = `a=${peerURL(1)},b=${peerURL(2)},c=${peerURL(3)}`;
    expect(fromB).toEqual({ kind: "new", initialCluster: expected });
    expect(fromA).toEqual(fromB);
  });

  it("starts the new cluster a running server formed with it, even once it runs", () => {
    const initial = `a=${peerURL(1)},b=${peerURL(2)},c=${peerURL(3)}`;
    const a = peer("a", 1, { Running: true, InitialCluster: initial, Members: [{ Name: "a", PeerURLs: [peerURL(1)], ClientURLs: ["x"] }, { Name: "b", PeerURLs: [peerURL(2)], ClientURLs: [] }] });
    expect(bootstrapPlan(self, [a], 3)).toEqual({ kind: "new", initialCluster: initial });
  });

  it("starts as a member a running cluster added already, and asks to be added otherwise", () => {
    const added = peer("a", 1, { Running: true, Members: [{ Name: "a", PeerURLs: [peerURL(1)], ClientURLs: ["x"] }, { Name: "", PeerURLs: [peerURL(2)], ClientURLs: [] }] });
    expect(bootstrapPlan(self, [added], 3)).toEqual({ kind: "existing", initialCluster: `a=${peerURL(1)},b=${peerURL(2)}` });
    const other = peer("a", 1, { Running: true, Members: [{ Name: "a", PeerURLs: [peerURL(1)], ClientURLs: ["x"] }] });
    expect(bootstrapPlan(self, [peer("c", 3), other], 3)).toEqual({ kind: "join", via: "127.0.0.1:4746" });
    // Without bootstrap_expect a server only ever joins.
    expect(bootstrapPlan(self, [peer("a", 1), peer("c", 3)], 0).kind).toBe("wait");
    expect(bootstrapPlan(self, [other], 0)).toEqual({ kind: "join", via: "127.0.0.1:4746" });
  });

  it("refuses a name taken, and a member that ran before its data was lost", () => {
    const twin = { addr: "10.0.0.9:4646", peer: { ...peer("b", 9).peer } };
    expect(bootstrapPlan(self, [twin], 3)).toMatchObject({ kind: "refuse", reason: expect.stringMatching(/two servers are named b/) as unknown });
    const ran = peer("a", 1, { Running: true, Members: [{ Name: "b", PeerURLs: [peerURL(2)], ClientURLs: ["http://127.0.0.1:4847"] }] });
    expect(bootstrapPlan(self, [ran], 3)).toMatchObject({ kind: "refuse", reason: expect.stringMatching(/was lost; remove the member \(ruche operator etcd remove b\)/) as unknown });
  });

  it("waits for a server that has etcd data rather than form a second cluster", () => {
    const restarting = peer("a", 1, { HasData: true });
    expect(bootstrapPlan(self, [restarting, peer("c", 3)], 3)).toEqual({ kind: "wait", reason: "a (127.0.0.1:4746) has etcd data but its member does not run yet" });
  });

  it("ignores servers of another region", () => {
    const foreign = peer("a", 1, { Region: "asia", Running: true });
    expect(bootstrapPlan(self, [foreign], 1)).toEqual({ kind: "new", initialCluster: `b=${peerURL(2)}` });
  });
});

describe("the join routes' input", () => {
  it("checks a join request and a peer answer", () => {
    expect(parseJoinRequest({ Name: "d", PeerURL: "http://10.0.0.4:4648" })).toEqual({ Name: "d", PeerURL: "http://10.0.0.4:4648" });
    expect(() => parseJoinRequest({ Name: "d", PeerURL: "10.0.0.4:4648" })).toThrow(/PeerURL must be the joining member's peer URL/);
    expect(() => parseJoinRequest({ PeerURL: "http://10.0.0.4:4648" })).toThrow(/Name must be/);
    expect(parsePeer({ Name: "a", Region: "r", PeerURL: "p", ClientURL: "c", Running: "yes" })).toEqual({ ok: false, reason: "Running is not a boolean" });
    expect(parsePeer(peer("a", 1).peer)).toEqual({ ok: true, peer: peer("a", 1).peer });
  });

  it("reads retry_join addresses as Nomad does: a bare host takes port 4646", () => {
    expect(joinAddress("10.0.0.1")).toBe("10.0.0.1:4646");
    expect(joinAddress("10.0.0.1:5646")).toBe("10.0.0.1:5646");
    expect(joinAddress("http://server-1:5646/")).toBe("server-1:5646");
    expect(joinAddress("fd00::1")).toBe("[fd00::1]:4646");
    expect(joinAddress("[fd00::1]:5646")).toBe("[fd00::1]:5646");
  });

  it("advertises the bind address, or 127.0.0.1 for a bind on every address with local servers only", () => {
    expect(advertiseHost("10.0.0.5", undefined, [])).toBe("10.0.0.5");
    expect(advertiseHost("0.0.0.0", undefined, ["127.0.0.1:5646", "localhost:5746"])).toBe("127.0.0.1");
    expect(advertiseHost("0.0.0.0", "192.168.1.2", ["10.0.0.1:4646"])).toBe("192.168.1.2");
  });
});
