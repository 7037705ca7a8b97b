import { describe, expect, it } from "vitest";
import { distance, formatHost, memberRows, roundTrips, rttText, type AgentMember, type Coord, type DatacenterCoords, type RegionLeader } from "./members.js";

function member(name: string, region: string, dc: string, addr: string, port: number, status = "alive"): AgentMember {
  return { Name: `${name}.${region}`, Addr: addr, Port: port, Status: status, Tags: { role: "nomad", region, dc, port: String(port), id: name, build: "0.1.0" } };
}

const H = 10e-6;
/** A coordinate `seconds` from the origin, on the first axis. */
const at = (seconds: number): Coord => ({ Vec: [Math.max(0, seconds - 2 * H), 0, 0], Error: 0.2, Adjustment: 0, Height: H });

describe("the Servers page's rows", () => {
  const members = [member("us1", "us", "us-west-2", "127.0.0.1", 4002), member("eu2", "europe", "europe-west1", "127.0.0.1", 4003, "failed"), member("eu1", "europe", "europe-west1", "127.0.0.1", 4001)];
  const coords: DatacenterCoords[] = [
    { Datacenter: "europe-west1", AreaID: "WAN", Coordinates: [{ Node: "eu1.europe-west1", Coord: at(0) }] },
    { Datacenter: "us-west-2", AreaID: "WAN", Coordinates: [{ Node: "us1.us-west-2", Coord: at(0.042) }] },
  ];

  it("marks each region's leader by its address (Addr:Tags.port, as Nomad's UI compares), sorted by region then name", () => {
    const leaders = new Map<string, RegionLeader>([
      ["europe", { ok: true, addr: "127.0.0.1:4001" }],
      ["us", { ok: true, addr: "127.0.0.1:4002" }],
    ]);
    const rows = memberRows(members, leaders, coords, "europe");
    expect(rows.map((r) => [r.name, r.status, r.leader, r.region, r.datacenter, r.address])).toEqual([
      ["eu1.europe", "alive", true, "europe", "europe-west1", "127.0.0.1:4001"],
      ["eu2.europe", "failed", false, "europe", "europe-west1", "127.0.0.1:4003"],
      ["us1.us", "alive", true, "us", "us-west-2", "127.0.0.1:4002"],
    ]);
  });

  it("a region with no leader leads with none; one whose leader could not be asked says why", () => {
    const leaders = new Map<string, RegionLeader>([
      ["europe", { ok: true, addr: "" }],
      ["us", { ok: false, reason: 'No path to region "us": none of its servers answers' }],
    ]);
    const rows = memberRows(members, leaders, coords, "europe");
    expect(rows.find((r) => r.name === "eu1.europe")?.leader).toBe(false);
    const us = rows.find((r) => r.name === "us1.us");
    expect(us?.leader).toBeUndefined();
    expect(us?.leaderUnknown).toMatch(/No path to region "us"/);
  });

  it("gives the round trip measured from the region asked to the other regions' servers, none to its own nor without coordinates", () => {
    const rows = memberRows(members, new Map(), coords, "europe");
    expect(rows.find((r) => r.name === "us1.us")?.rttMs).toBeCloseTo(42, 6);
    expect(rows.find((r) => r.name === "eu1.europe")?.rttMs).toBeUndefined();
    expect(memberRows(members, new Map(), undefined, "europe").find((r) => r.name === "us1.us")?.rttMs).toBeUndefined();
    // A server that stopped answering keeps its last coordinate: its round trip is not shown as if current.
    const down = members.map((m) => (m.Name === "us1.us" ? { ...m, Status: "failed" } : m));
    expect(memberRows(down, new Map(), coords, "europe").find((r) => r.name === "us1.us")?.rttMs).toBeUndefined();
    // Asked of us: us stands at the origin, europe's server at its round trip.
    const fromUs: DatacenterCoords[] = [
      { Datacenter: "europe-west1", AreaID: "WAN", Coordinates: [{ Node: "eu1.europe-west1", Coord: at(0.007) }] },
      { Datacenter: "us-west-2", AreaID: "WAN", Coordinates: [{ Node: "us1.us-west-2", Coord: at(0) }] },
    ];
    const rows2 = memberRows(members, new Map(), fromUs, "us");
    expect(rows2.find((r) => r.name === "eu1.europe")?.rttMs).toBeCloseTo(7, 6);
    expect(rows2.find((r) => r.name === "eu2.europe")?.rttMs).toBeUndefined();
    expect(rows2.find((r) => r.name === "us1.us")?.rttMs).toBeUndefined();
  });

  it("measures as Consul does, and writes addresses and round trips as people read them", () => {
    expect(distance({ Vec: [0.003, 0.004], Error: 0, Adjustment: 0, Height: 0.001 }, { Vec: [0, 0], Error: 0, Adjustment: 0, Height: 0.001 })).toBeCloseTo(0.007, 9);
    // A negative adjustment that would make the distance negative is not applied.
    expect(distance({ Vec: [0.001], Error: 0, Adjustment: -1, Height: 0 }, { Vec: [0], Error: 0, Adjustment: 0, Height: 0 })).toBeCloseTo(0.001, 9);
    expect(roundTrips([], new Set(["europe-west1"])).size).toBe(0);
    expect(formatHost("::1", 4646)).toBe("[::1]:4646");
    expect(formatHost("10.0.0.1", "4646")).toBe("10.0.0.1:4646");
    expect([rttText(0.42), rttText(42.4), rttText(1234)]).toEqual(["0.4 ms", "42 ms", "1.2 s"]);
  });
});
