import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { memoryBackend, StateStore } from "../state/index.js";
import { mock, MKDIR_PLUGIN, pluginAttribute, silentLogger, type HostVolume, type Node } from "../structs/index.js";
import { Server } from "./server.js";

// The servers' side of dynamic host volumes: requests write the volume and wait for the node's
// agent to report through `reportHostVolumes` (here called as the node's agent calls it over
// its node-identity route); the agent's side is tested with a real client in src/api and e2e.

let store: StateStore;
let server: Server;
let node: Node;

const request = (name: string, over: Partial<HostVolume> = {}): HostVolume => ({
  Namespace: "default",
  ID: "",
  Name: name,
  PluginID: "mkdir",
  NodePool: "",
  NodeID: "",
  RequestedCapacityMinBytes: 0,
  RequestedCapacityMaxBytes: 0,
  CapacityBytes: 0,
  RequestedCapabilities: [],
  HostPath: "",
  State: "",
  CreateIndex: 0,
  CreateTime: 0,
  ModifyIndex: 0,
  ModifyTime: 0,
  ...over,
});

/** Resolves once the volume named is written in `state` (what the node's agent sees). */
async function written(name: string, state: string): Promise<HostVolume> {
  for (;;) {
    const v = store.hostVolumes(undefined).find((x) => x.Name === name && x.State === state);
    if (v !== undefined) return v;
    await store.waitFor(["hostVolumes"], store.tableIndex("hostVolumes"), 1000);
  }
}

beforeEach(async () => {
  store = await StateStore.open(memoryBackend());
  server = new Server(store, { log: silentLogger, hostVolumeWaitMs: 400 });
  node = mock.node({ attributes: { [pluginAttribute(MKDIR_PLUGIN)]: "0.0.1" } });
  await server.registerNode(node);
});

afterEach(async () => {
  await server.stop();
});

describe("dynamic host volumes between the servers and the node's agent", () => {
  it("create answers ready with what the node's agent reported, and its node's report only", async () => {
    const answer = server.createHostVolume(request("made"));
    const pending = await written("made", "pending");
    expect(pending.NodeID).toBe(node.ID);
    // A report that names the volume for another node changes nothing.
    const other = mock.node({ attributes: { [pluginAttribute(MKDIR_PLUGIN)]: "0.0.1" } });
    await server.registerNode(other);
    await server.reportHostVolumes(other.ID, other.SecretID, [{ ID: pending.ID, Namespace: "default", HostPath: "/elsewhere" }]);
    expect(store.hostVolume("default", pending.ID)?.State).toBe("pending");
    await server.reportHostVolumes(node.ID, node.SecretID, [{ ID: pending.ID, Namespace: "default", HostPath: "/srv/made", CapacityBytes: 0 }]);
    expect((await answer).volume).toMatchObject({ State: "ready", HostPath: "/srv/made", NodeID: node.ID });
  });

  it("a create the node's agent fails answers its error and leaves no volume; one nobody reports stays pending after the wait", async () => {
    const answer = server.createHostVolume(request("bad"));
    const pending = await written("bad", "pending");
    await server.reportHostVolumes(node.ID, node.SecretID, [{ ID: pending.ID, Namespace: "default", Error: 'parameter mode: an octal file mode such as "0755", got "x"' }]);
    await expect(answer).rejects.toThrow(`error creating volume on node ${node.ID}: parameter mode`);
    expect(store.hostVolume("default", pending.ID)).toBeUndefined();

    const late = await server.createHostVolume(request("late"));
    expect(late.volume.State).toBe("pending");
  });

  it("delete marks the volume deleted and drops it once the node's agent removed it; a failed removal leaves it ready", async () => {
    const answer = server.createHostVolume(request("gone"));
    const v = await written("gone", "pending");
    await server.reportHostVolumes(node.ID, node.SecretID, [{ ID: v.ID, Namespace: "default", HostPath: "/srv/gone" }]);
    await answer;

    const failing = server.deleteHostVolume("default", v.ID);
    await written("gone", "deleted");
    await server.reportHostVolumes(node.ID, node.SecretID, [{ ID: v.ID, Namespace: "default", Error: "permission denied" }]);
    await expect(failing).rejects.toThrow(`error deleting volume ${v.ID} on node ${node.ID}: permission denied`);
    expect(store.hostVolume("default", v.ID)?.State).toBe("ready");

    const unanswered = server.deleteHostVolume("default", v.ID);
    await expect(unanswered).rejects.toThrow("is marked for deletion");
    const deleting = server.deleteHostVolume("default", v.ID);
    await written("gone", "deleted");
    await server.reportHostVolumes(node.ID, node.SecretID, [{ ID: v.ID, Namespace: "default" }]);
    await deleting;
    expect(store.hostVolume("default", v.ID)).toBeUndefined();
  });
});
