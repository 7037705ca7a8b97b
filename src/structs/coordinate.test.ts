import { describe, expect, it } from "vitest";
import { coordinateProblem, DEFAULT_COORDINATE_CONFIG, distanceTo, newCoordinate, sortByDistance, VivaldiClient, type Coordinate } from "./coordinate.js";

/** A seeded generator (mulberry32), so that each run is the same. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** serf's `Simulate`: each cycle, every node samples one other at random with its true round trip. */
function simulate(clients: VivaldiClient[], truthMs: number[][], cycles: number, random: () => number): void {
  for (let cycle = 0; cycle < cycles; cycle++) {
    for (const [i, c] of clients.entries()) {
      const j = Math.floor(random() * clients.length);
      if (j === i) continue;
      const other = clients[j] as VivaldiClient;
      expect(c.update(`node_${j}`, other.coordinate(), truthMs[i]?.[j] ?? 0).ok).toBe(true);
    }
  }
}

/** serf's `Evaluate`: the largest and mean relative error of the estimated distances. */
function evaluate(clients: VivaldiClient[], truthMs: number[][]): { max: number; avg: number } {
  let max = 0;
  let sum = 0;
  let n = 0;
  for (let i = 0; i < clients.length; i++) {
    for (let j = i + 1; j < clients.length; j++) {
      const est = distanceTo((clients[i] as VivaldiClient).coordinate(), (clients[j] as VivaldiClient).coordinate());
      const actual = (truthMs[i]?.[j] ?? 0) / 1000;
      const err = Math.abs(est - actual) / actual;
      max = Math.max(max, err);
      sum += err;
      n++;
    }
  }
  return { max, avg: sum / n };
}

describe("Vivaldi coordinates (serf's coordinate package)", () => {
  it("starts at the origin with serf's defaults and refuses what serf refuses", () => {
    const c = newCoordinate();
    expect(c).toEqual({ Vec: [0, 0, 0, 0, 0, 0, 0, 0], Error: 1.5, Adjustment: 0, Height: 10e-6 });
    const v = new VivaldiClient(DEFAULT_COORDINATE_CONFIG, rng(1));
    expect(v.update("b", { ...c, Vec: [0, 0] }, 10)).toEqual({ ok: false, reason: "dimensions aren't compatible: Vec has 2, want 8" });
    expect(v.update("b", c, -1).ok).toBe(false);
    expect(v.update("b", c, 10_001).ok).toBe(false);
    expect(coordinateProblem({ ...c, Error: Number.NaN })).toBe("Error must be a finite number");
  });

  it("DistanceTo adds heights, then adjustments when the sum stays positive (serf's TestCoordinate_DistanceTo)", () => {
    const a: Coordinate = { Vec: [-0.5, 1.3, 2.4, 0, 0, 0, 0, 0], Error: 0, Adjustment: 0, Height: 0 };
    const b: Coordinate = { Vec: [1.2, -2.3, 3.4, 0, 0, 0, 0, 0], Error: 0, Adjustment: 0, Height: 0 };
    expect(distanceTo(a, b)).toBeCloseTo(4.104875150354758, 12);
    expect(distanceTo({ ...a, Height: 0.7 }, { ...b, Height: 0.1 })).toBeCloseTo(4.104875150354758 + 0.8, 12);
    expect(distanceTo({ ...a, Adjustment: 0.1 }, { ...b, Adjustment: 0.2 })).toBeCloseTo(4.104875150354758 + 0.3, 12);
    // A negative adjustment that would make the distance negative is ignored.
    expect(distanceTo({ ...a, Adjustment: -10 }, b)).toBeCloseTo(4.104875150354758, 12);
  });

  it("two nodes 50 ms apart settle at 50 ms (serf's TestClient_Update shape)", () => {
    const a = new VivaldiClient(DEFAULT_COORDINATE_CONFIG, rng(2));
    const b = new VivaldiClient(DEFAULT_COORDINATE_CONFIG, rng(3));
    for (let i = 0; i < 200; i++) {
      a.update("b", b.coordinate(), 50);
      b.update("a", a.coordinate(), 50);
    }
    expect(distanceTo(a.coordinate(), b.coordinate()) * 1000).toBeCloseTo(50, 0);
    expect(a.coordinate().Error).toBeLessThan(0.1);
  });

  it("the median of the last three samples: one outlier does not move the estimate", () => {
    const a = new VivaldiClient(DEFAULT_COORDINATE_CONFIG, rng(4));
    const b = new VivaldiClient(DEFAULT_COORDINATE_CONFIG, rng(5));
    for (let i = 0; i < 200; i++) {
      a.update("b", b.coordinate(), 20);
      b.update("a", a.coordinate(), 20);
    }
    a.update("b", b.coordinate(), 5000);
    expect(distanceTo(a.coordinate(), b.coordinate()) * 1000).toBeCloseTo(20, 0);
  });

  it("ten nodes on a line, 10 ms apart, converge (serf's TestPerformance_Line)", () => {
    const n = 10;
    const truth = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => Math.abs(i - j) * 10));
    const random = rng(6);
    const clients = Array.from({ length: n }, () => new VivaldiClient(DEFAULT_COORDINATE_CONFIG, random));
    simulate(clients, truth, 1000, random);
    const { max, avg } = evaluate(clients, truth);
    expect(max).toBeLessThan(0.02);
    expect(avg).toBeLessThan(0.005);
  });

  it("a 5×5 grid, 10 ms apart, converges (serf's TestPerformance_Grid)", () => {
    const side = 5;
    const pos = Array.from({ length: side * side }, (_, i) => [Math.floor(i / side), i % side] as const);
    const truth = pos.map(([x1, y1]) => pos.map(([x2, y2]) => Math.hypot(x1 - x2, y1 - y2) * 10));
    const random = rng(7);
    const clients = pos.map(() => new VivaldiClient(DEFAULT_COORDINATE_CONFIG, random));
    simulate(clients, truth, 1000, random);
    const { max, avg } = evaluate(clients, truth);
    expect(max).toBeLessThan(0.05);
    expect(avg).toBeLessThan(0.01);
  });

  it("?near= puts the nearest first, nodes without a coordinate last, in their order", () => {
    const at = (x: number): Coordinate => ({ Vec: [x, 0, 0, 0, 0, 0, 0, 0], Error: 0.1, Adjustment: 0, Height: 0 });
    const coords = new Map([["a", at(0.03)], ["b", at(0.001)], ["c", at(0.01)]]);
    expect(sortByDistance(["x", "a", "y", "b", "c"], at(0), (s) => s, coords)).toEqual(["b", "c", "a", "x", "y"]);
    expect(sortByDistance(["a", "b"], undefined, (s) => s, coords)).toEqual(["a", "b"]);
  });
});
