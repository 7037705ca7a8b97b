/**
 * User events every server sees: two servers' stores on a real etcd member; an event fired
 * on the leader is listed on the other server, whose blocking wait wakes for it, and the
 * coordinates written on one are read on the other.
 */
import type { Etcd3 } from "etcd3";
import { beforeAll, describe, expect, it } from "vitest";
import { leaderRegion } from "../state/etcd-testing.js";
import { etcdBackend, StateStore } from "../state/index.js";
import { newCoordinate } from "../structs/index.js";
import { UserEvents } from "./events.js";
import { oneEtcdMember } from "../state/etcd-fixture.js";

const etcd = oneEtcdMember();
let client: Etcd3;
beforeAll(() => {
  client = etcd.client;
});

describe("user events on two servers", () => {
  it("an event fired on one server is listed on the other, and wakes its blocking list", async () => {
    const { region, fence } = await leaderRegion(client, "user-events");
    const a = await StateStore.open(etcdBackend({ client, region, fence: () => fence }));
    const b = await StateStore.open(etcdBackend({ client, region, fence: () => null }));
    try {
      const onA = new UserEvents(a);
      const onB = new UserEvents(b);
      const t = Date.now();
      const woke = onB.wait(10_000);
      const fired = await onA.fire({ Name: "deploy", Payload: Buffer.from("v1").toString("base64"), NodeFilter: "", ServiceFilter: "", TagFilter: "" });
      await woke;
      expect(Date.now() - t).toBeLessThan(5000);
      expect(onB.list()).toEqual([fired]);
      expect(onB.index()).toBe(onA.index());
      const second = await onA.fire({ Name: "again", Payload: null, NodeFilter: "", ServiceFilter: "", TagFilter: "" });
      expect(second.LTime).toBe(fired.LTime + 1);
      // Nodes' coordinates are rows of the same store: replicated alike.
      await a.write((tx) => { tx.put("coordinates", { Node: "n1", Segment: "", Coord: newCoordinate(), CreateIndex: 0, ModifyIndex: 0 }); });
      await b.barrier();
      for (let i = 0; i < 50 && b.coordinate("n1") === undefined; i++) await new Promise((r) => setTimeout(r, 100));
      expect(b.coordinate("n1")?.Coord.Vec).toHaveLength(8);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
