/**
 * Network coordinates as Consul keeps them: hashicorp/serf's `coordinate` package (Vivaldi
 * with a height, an adjustment and gravity), the same defaults, the same update and the same
 * `DistanceTo`. Pure: the round trips come from the caller, randomness (the direction of a
 * push between two coordinates at one point) is passed in.
 */

/** Consul's `coordinate.Coordinate` on the wire (`/v1/coordinate/nodes`' `Coord`); distances in seconds. */
export interface Coordinate {
  Vec: number[];
  Error: number;
  Adjustment: number;
  Height: number;
}

/** serf's `coordinate.Config`. */
export interface CoordinateConfig {
  dimensionality: number;
  vivaldiErrorMax: number;
  vivaldiCE: number;
  vivaldiCC: number;
  adjustmentWindowSize: number;
  heightMin: number;
  latencyFilterSize: number;
  gravityRho: number;
}

/** serf's `DefaultConfig()`, which Consul uses. */
export const DEFAULT_COORDINATE_CONFIG: Readonly<CoordinateConfig> = Object.freeze({
  dimensionality: 8,
  vivaldiErrorMax: 1.5,
  vivaldiCE: 0.25,
  vivaldiCC: 0.25,
  adjustmentWindowSize: 20,
  heightMin: 10.0e-6,
  latencyFilterSize: 3,
  gravityRho: 150.0,
});

const ZERO_THRESHOLD = 1.0e-6;
/** serf refuses a round trip above this. */
export const MAX_RTT_MS = 10_000;

/** serf's `NewCoordinate`: at the origin, with the largest error. */
export function newCoordinate(config: Readonly<CoordinateConfig> = DEFAULT_COORDINATE_CONFIG): Coordinate {
  return { Vec: new Array<number>(config.dimensionality).fill(0), Error: config.vivaldiErrorMax, Adjustment: 0, Height: config.heightMin };
}

/** serf's `DistanceTo`, in seconds: the Euclidean distance plus both heights, then both adjustments when that stays positive. */
export function distanceTo(a: Coordinate, b: Coordinate): number {
  const dist = rawDistance(a, b);
  const adjusted = dist + a.Adjustment + b.Adjustment;
  return adjusted > 0 ? adjusted : dist;
}

function rawDistance(a: Coordinate, b: Coordinate): number {
  return magnitude(diff(a.Vec, b.Vec)) + a.Height + b.Height;
}

/** What is wrong with a coordinate read from outside (a body, a row), or null: serf's `IsValid` and its dimension check. */
export function coordinateProblem(c: unknown, config: Readonly<CoordinateConfig> = DEFAULT_COORDINATE_CONFIG): string | null {
  if (typeof c !== "object" || c === null || Array.isArray(c)) return "must be an object with Vec, Error, Adjustment and Height";
  const o = c as Record<string, unknown>;
  if (!Array.isArray(o.Vec) || !o.Vec.every((x) => typeof x === "number" && Number.isFinite(x))) return "Vec must be a list of finite numbers";
  if (o.Vec.length !== config.dimensionality) return `dimensions aren't compatible: Vec has ${o.Vec.length}, want ${config.dimensionality}`;
  for (const f of ["Error", "Adjustment", "Height"] as const) if (typeof o[f] !== "number" || !Number.isFinite(o[f])) return `${f} must be a finite number`;
  return null;
}

/** serf's `ApplyForce`: `c` pushed by `force` seconds away from `other` (towards it when negative). */
function applyForce(config: Readonly<CoordinateConfig>, c: Coordinate, force: number, other: Coordinate, random: () => number): Coordinate {
  const { unit, mag } = unitVectorAt(c.Vec, other.Vec, random);
  const ret: Coordinate = { ...c, Vec: c.Vec.map((x, i) => x + (unit[i] ?? 0) * force) };
  if (mag > ZERO_THRESHOLD) ret.Height = Math.max((ret.Height + other.Height) * force / mag + ret.Height, config.heightMin);
  return ret;
}

/** The unit vector from b to a and the distance; a random direction when they coincide (serf's `unitVectorAt`). */
function unitVectorAt(a: number[], b: number[], random: () => number): { unit: number[]; mag: number } {
  let ret = diff(a, b);
  const mag = magnitude(ret);
  if (mag > ZERO_THRESHOLD) return { unit: ret.map((x) => x / mag), mag };
  ret = ret.map(() => random() - 0.5);
  const m = magnitude(ret);
  if (m > ZERO_THRESHOLD) return { unit: ret.map((x) => x / m), mag: 0 };
  ret = ret.map((_, i) => (i === 0 ? 1 : 0));
  return { unit: ret, mag: 0 };
}

const diff = (a: number[], b: number[]): number[] => a.map((x, i) => x - (b[i] ?? 0));
const magnitude = (v: number[]): number => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
const valid = (c: Coordinate): boolean => [...c.Vec, c.Error, c.Adjustment, c.Height].every(Number.isFinite);

/** The outcome of an update: the new coordinate, or why the sample was refused (serf's errors). */
export type CoordinateUpdate = { ok: true; coord: Coordinate } | { ok: false; reason: string };

/**
 * serf's `coordinate.Client`: one node's coordinate, updated from round trips to other nodes
 * (a median filter of the last 3 per node, the Vivaldi step, the adjustment over the last 20
 * samples, gravity towards the origin). A coordinate that turns invalid starts again at the origin.
 */
export class VivaldiClient {
  private coord: Coordinate;
  private readonly origin: Coordinate;
  private adjustmentIndex = 0;
  private readonly adjustmentSamples: number[];
  private readonly latencySamples = new Map<string, number[]>();
  /** How many times the coordinate was reset (serf's `Stats().Resets`). */
  resets = 0;

  constructor(
    private readonly config: Readonly<CoordinateConfig> = DEFAULT_COORDINATE_CONFIG,
    private readonly random: () => number = Math.random,
  ) {
    this.coord = newCoordinate(config);
    this.origin = newCoordinate(config);
    this.adjustmentSamples = new Array<number>(config.adjustmentWindowSize).fill(0);
  }

  coordinate(): Coordinate {
    return { ...this.coord, Vec: [...this.coord.Vec] };
  }

  /** Replaces the coordinate (serf's `SetCoordinate`), checked. */
  set(c: Coordinate): CoordinateUpdate {
    const problem = coordinateProblem(c, this.config);
    if (problem !== null) return { ok: false, reason: problem };
    this.coord = { ...c, Vec: [...c.Vec] };
    return { ok: true, coord: this.coordinate() };
  }

  /** Forgets a node's samples (serf's `ForgetNode`). */
  forget(node: string): void {
    this.latencySamples.delete(node);
  }

  /** serf's `Update`: one round trip `rttMs` to `node`, whose coordinate is `other`. */
  update(node: string, other: Coordinate, rttMs: number): CoordinateUpdate {
    const problem = coordinateProblem(other, this.config);
    if (problem !== null) return { ok: false, reason: problem };
    if (!(rttMs >= 0 && rttMs <= MAX_RTT_MS)) return { ok: false, reason: `round trip time not in valid range, duration ${rttMs}ms is not a positive value less than ${MAX_RTT_MS / 1000}s` };
    const rtt = this.latencyFilter(node, rttMs / 1000);
    this.updateVivaldi(other, rtt);
    this.updateAdjustment(other, rtt);
    this.updateGravity();
    if (!valid(this.coord)) {
      this.resets++;
      this.coord = newCoordinate(this.config);
    }
    return { ok: true, coord: this.coordinate() };
  }

  private latencyFilter(node: string, rtt: number): number {
    const samples = [...(this.latencySamples.get(node) ?? []), rtt];
    if (samples.length > this.config.latencyFilterSize) samples.shift();
    this.latencySamples.set(node, samples);
    const sorted = [...samples].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)] ?? rtt;
  }

  private updateVivaldi(other: Coordinate, rttIn: number): void {
    const cfg = this.config;
    const dist = distanceTo(this.coord, other);
    const rtt = Math.max(rttIn, ZERO_THRESHOLD);
    const wrongness = Math.abs(dist - rtt) / rtt;
    const totalError = Math.max(this.coord.Error + other.Error, ZERO_THRESHOLD);
    const weight = this.coord.Error / totalError;
    const error = Math.min(cfg.vivaldiCE * weight * wrongness + this.coord.Error * (1 - cfg.vivaldiCE * weight), cfg.vivaldiErrorMax);
    this.coord = { ...this.coord, Error: error };
    const force = cfg.vivaldiCC * weight * (rtt - dist);
    this.coord = applyForce(cfg, this.coord, force, other, this.random);
  }

  private updateAdjustment(other: Coordinate, rtt: number): void {
    const size = this.config.adjustmentWindowSize;
    if (size === 0) return;
    this.adjustmentSamples[this.adjustmentIndex] = rtt - rawDistance(this.coord, other);
    this.adjustmentIndex = (this.adjustmentIndex + 1) % size;
    const sum = this.adjustmentSamples.reduce((s, x) => s + x, 0);
    this.coord = { ...this.coord, Adjustment: sum / (2 * size) };
  }

  private updateGravity(): void {
    const dist = distanceTo(this.origin, this.coord);
    const force = -1 * Math.pow(dist / this.config.gravityRho, 2);
    this.coord = applyForce(this.config, this.coord, force, this.origin, this.random);
  }
}

/** What a node agent sends with a heartbeat (`PUT /v1/client/heartbeat/:id`'s body): its coordinate, and the round trip of its last heartbeat. */
export interface CoordinateSample {
  Coord: Coordinate;
  /** Milliseconds; absent on the first heartbeat. */
  RTTMs?: number;
}

/** One node's coordinate as Consul lists it (`/v1/coordinate/nodes`) and as the store keeps it (`coordinates`, by Node). */
export interface NodeCoordinate {
  Node: string;
  /** Consul's network segment (Enterprise); always "". */
  Segment: string;
  Coord: Coordinate;
  CreateIndex: number;
  ModifyIndex: number;
}

/**
 * Consul's `?near=` order: `items` sorted by the estimated round trip from `from` to each
 * one's node (`nodeOf`), nearest first; items whose node has no coordinate keep their order
 * after the others (Consul's `sortByDistanceFrom` puts unknown distances last). Stable.
 */
export function sortByDistance<T>(items: readonly T[], from: Coordinate | undefined, nodeOf: (t: T) => string, coords: ReadonlyMap<string, Coordinate>): T[] {
  if (from === undefined) return [...items];
  const d = (t: T): number => {
    const c = coords.get(nodeOf(t));
    return c === undefined || c.Vec.length !== from.Vec.length ? Infinity : distanceTo(from, c);
  };
  return items.map((t, i) => ({ t, i, d: d(t) })).sort((a, b) => a.d - b.d || a.i - b.i).map((x) => x.t);
}
