import { describe, expect, it } from "vitest";
import { memoryBackend, StateStore } from "../state/index.js";
import { distanceTo, mock, VivaldiClient } from "../structs/index.js";
import { Server } from "./server.js";

describe("nodes' coordinates from heartbeats", () => {
  it("a node that sends its coordinate with its heartbeats gets the server's back, and both settle at the measured round trip; the rows are written once per period", async () => {
    const store = await StateStore.open(memoryBackend());
    const server = new Server(store, { coordinateUpdatePeriodMs: 50 });
    const node = mock.node({ name: "n1" });
    await server.registerNode(node);
    const vivaldi = new VivaldiClient();
    let rtt: number | undefined;
    const commits: number[] = [];
    store.subscribe((e) => {
      if (e.changes.some((c) => c.table === "coordinates")) commits.push(e.index);
    });
    // What the node agent does: its coordinate and last round trip with each beat, the server's coordinate back.
    for (let i = 0; i < 150; i++) {
      const answer = await server.heartbeat(node.ID, node.SecretID, rtt === undefined ? undefined : { Coord: vivaldi.coordinate(), RTTMs: rtt });
      rtt = 30;
      expect(vivaldi.update("server", answer.Coord, rtt).ok).toBe(true);
    }
    await new Promise((r) => setTimeout(r, 120));
    const row = store.coordinate("n1");
    expect(row?.Segment).toBe("");
    expect(row?.Coord.Vec).toHaveLength(8);
    expect(distanceTo(vivaldi.coordinate(), server.coordinates.own()) * 1000).toBeCloseTo(30, 0);
    // 150 beats, written as a handful of batches (one per period), not one commit each.
    expect(commits.length).toBeLessThan(10);
    // A bad coordinate is not kept; the heartbeat still counts.
    expect(server.coordinates.queue("n1", { Vec: [1], Error: 0, Adjustment: 0, Height: 0 })).toBe("rejected bad coordinate: dimensions aren't compatible: Vec has 1, want 8");
    expect((await server.heartbeat(node.ID, node.SecretID, { Coord: { Vec: [Number.NaN], Error: 0, Adjustment: 0, Height: 0 }, RTTMs: 5 })).HeartbeatTTL).toBeGreaterThan(0);
    await server.coordinates.stop();
    expect(server.coordinates.list().map((c) => c.Node)).toEqual(["n1"]);
    await store.close();
  });
});
