/**
 * A node's blocking query on its allocations answers when one of its own allocations
 * changes, not when another node's does: with thousands of nodes each reporting its
 * allocations, answering every node's watch on every commit would cost the servers N².
 * Real HTTP on 127.0.0.1 over a server on the memory store.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { ApiClient } from "../apiclient/index.js";
import { serverOnMemory } from "../server/testing.js";
import { mock, silentLogger, type Allocation, type Node } from "../structs/index.js";
import type { Server } from "../server/index.js";
import type { StateStore } from "../state/index.js";
import { startApi, type RunningHttp } from "./index.js";

let store: StateStore;
let server: Server;
let http: RunningHttp;

beforeAll(async () => {
  ({ store, server } = await serverOnMemory());
  http = await startApi(server, store, { host: "127.0.0.1", port: 0, log: silentLogger });
});

afterAll(async () => {
  await http.close();
  await server.stop();
});

it("answers a node's watch when its own allocations change, not another node's", async () => {
  const [a, b]: Node[] = [mock.node({ name: "a" }), mock.node({ name: "b" })];
  if (a === undefined || b === undefined) throw new Error("two nodes");
  for (const n of [a, b]) await server.registerNode(n);
  const job = mock.job({ id: "w", count: 2 });
  const put = (x: Allocation): Promise<unknown> =>
    store.write((tx) => {
      tx.put("allocs", x);
    });
  const onA = mock.alloc(job, a, 0);
  const onB = mock.alloc(job, b, 1);
  await put(onA);
  await put(onB);

  const api = new ApiClient(http.address).withNodeSecret(a.SecretID);
  const first = await api.nodeOwnAllocations(a.ID);
  expect(first.body.map((x) => x.ID)).toEqual([onA.ID]);

  let answered = false;
  const watch = api.nodeOwnAllocations(a.ID, { index: first.index, wait: "30s" }).finally(() => {
    answered = true;
  });
  await expect.poll(() => store.blockingQueries("allocs")).toBe(1);

  // Another node's allocation changes: the watch looks, and waits on.
  await put({ ...onB, ClientStatus: "running" });
  await new Promise((r) => setImmediate(r));
  expect(answered).toBe(false);
  expect(store.blockingQueries("allocs")).toBe(1);

  // Its own changes: it answers with it.
  await put({ ...onA, DesiredStatus: "stop" });
  const got = await watch;
  expect(got.body.map((x) => [x.ID, x.DesiredStatus])).toEqual([[onA.ID, "stop"]]);
  expect(got.index).toBe(store.tableIndex("allocs"));
});
