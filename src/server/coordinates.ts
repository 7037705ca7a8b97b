import type { StateStore } from "../state/index.js";
import { coordinateProblem, VivaldiClient, type Coordinate, type CoordinateSample, type Logger, type NodeCoordinate } from "../structs/index.js";

/** Consul's `coordinate_update_period`: a server writes the coordinates it was sent at most this often, in one transaction. */
export const COORDINATE_UPDATE_PERIOD_MS = 5000;
/** Consul's `coordinate_update_max_batch_size`... times its `coordinate_update_max_batches`: what one write takes at most; the rest waits for the next. */
export const COORDINATE_UPDATE_MAX = 128 * 5;

/**
 * Nodes' network coordinates (Consul's, serf's Vivaldi): the ones node agents send with
 * their heartbeats (or `PUT /v1/coordinate/update`) are kept in the store (`coordinates`, a
 * row per node, replicated), written in one transaction per update period as Consul's
 * servers batch them. This server's own coordinate moves against each node's with the round
 * trip that node measured, and is handed back in the heartbeat's answer for the node to move
 * against. Reads (`list`, `get`, `index`, `wait`) are the store's: every server answers them.
 */
export class NodeCoordinates {
  private readonly self: VivaldiClient;
  private readonly pending = new Map<string, Coordinate>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly store: StateStore,
    private readonly log: Logger,
    private readonly periodMs = COORDINATE_UPDATE_PERIOD_MS,
    random: () => number = Math.random,
  ) {
    this.self = new VivaldiClient(undefined, random);
  }

  /** This server's coordinate. */
  own(): Coordinate {
    return this.self.coordinate();
  }

  /**
   * A node's heartbeat carried its coordinate: kept for the next write, and this server's
   * own moved against it with the node's measured round trip. Returns what is wrong with the
   * sample (nothing kept then), or null.
   */
  sample(node: string, s: CoordinateSample): string | null {
    const problem = this.queue(node, s.Coord);
    if (problem !== null) return problem;
    if (s.RTTMs !== undefined) {
      const r = this.self.update(node, s.Coord, s.RTTMs);
      if (!r.ok) return r.reason;
    }
    return null;
  }

  /** Queues a node's coordinate for the next write (`PUT /v1/coordinate/update`); what is wrong with it, or null. */
  queue(node: string, coord: unknown): string | null {
    const problem = coordinateProblem(coord);
    if (problem !== null) return `rejected bad coordinate: ${problem}`;
    if (this.stopped) return "the server is stopping";
    this.pending.set(node, coord as Coordinate);
    this.timer ??= setTimeout(() => void this.flush(), this.periodMs).unref();
    return null;
  }

  /** Writes what is queued now (the update period's write), in one transaction. */
  async flush(): Promise<void> {
    this.timer = undefined;
    const batch = [...this.pending].slice(0, COORDINATE_UPDATE_MAX);
    for (const [node] of batch) this.pending.delete(node);
    if (this.pending.size > 0 && !this.stopped) this.timer = setTimeout(() => void this.flush(), this.periodMs).unref();
    if (batch.length === 0) return;
    try {
      await this.store.write((tx) => {
        for (const [node, coord] of batch) tx.put("coordinates", { Node: node, Segment: "", Coord: coord, CreateIndex: 0, ModifyIndex: 0 });
      });
    } catch (err) {
      this.log.warn({ err, nodes: batch.length }, "writing nodes' coordinates failed; they are sent again with the next heartbeats");
    }
  }

  /** Removes a node's coordinate with the node (Consul's catalog deregistration of a node deletes it). */
  async remove(node: string): Promise<void> {
    this.pending.delete(node);
    if (this.store.coordinate(node) !== undefined) {
      await this.store.write((tx) => {
        tx.delete("coordinates", node);
      });
    }
  }

  list(): NodeCoordinate[] {
    return this.store.coordinates();
  }

  get(node: string): NodeCoordinate | undefined {
    return this.store.coordinate(node);
  }

  /** The table's index, never 0 (`X-Consul-Index`). */
  index(): number {
    return Math.max(1, this.store.tableIndex("coordinates"));
  }

  wait(index: number, timeoutMs: number, signal?: AbortSignal): Promise<number> {
    return this.store.waitFor(["coordinates"], index, timeoutMs, signal);
  }

  /** Stops the periodic write; what is queued is written once more. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.flush();
  }
}
