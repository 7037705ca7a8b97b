import { ServiceRegistry, type HealthStatus } from "../../catalog/index.js";
import { AllocClientStatus, ErrorCode, parseNode, RucheError, silentLogger, type CoordinateSample, type HostVolumeReport } from "../../structs/index.js";
import type { AllocUpdate } from "../../server/index.js";
import { blocking, type ApiContext } from "../context.js";
import { blockingParams, type Request, type Router } from "../http.js";
import { checkSpeaksFor, nodeSpeaker, type NodeAdmission } from "../node-identity.js";
import { IdentitySigner } from "../workload-identity.js";

/**
 * The endpoints a client agent uses. Who may register a node, and speak for one, is
 * `admission`'s (its certificate, the agent's own key, a token; see `NodeAdmission`); a node
 * then authenticates with its secret and reaches only its own allocations.
 */
export function clientRoutes(r: Router, ctx: ApiContext, admission: NodeAdmission): void {
  const { store, server } = ctx;
  const secret = (req: Request): string => {
    const s = req.headers["x-ruche-node-secret"];
    if (typeof s !== "string" || s === "") throw new RucheError(ErrorCode.Unauthorized, "the X-Ruche-Node-Secret header is missing");
    return s;
  };
  // The node's allocations carry their tasks' workload identities (signed here, never stored).
  const identities = new IdentitySigner(store, ctx.log ?? silentLogger);
  /** The node `id` names, once the request shows it may speak for it; then its secret. */
  const ownNode = (req: Request, id: string, doing: string): string => {
    const speaker = nodeSpeaker(req, admission, false);
    const s = secret(req);
    const node = store.node(id);
    if (node === undefined) throw new RucheError(ErrorCode.NodeNotRegistered, `node "${id}" is not registered`);
    checkSpeaksFor(speaker, node, admission, doing);
    return s;
  };

  r.put("/v1/client/register", async (req) => {
    // Checked before the body is read: a request that may register no node learns nothing of what it sent.
    const speaker = nodeSpeaker(req, admission, true);
    const b = req.body;
    if (b === null || typeof b !== "object" || Array.isArray(b)) throw new RucheError(ErrorCode.BadRequest, 'the body must be {"Node": {...}}', { path: "Node" });
    const parsed = parseNode((b as { Node?: unknown }).Node);
    if (!parsed.ok) {
      const lines = parsed.problems.map((p) => `${p.path}: ${p.message}`);
      const first = parsed.problems[0];
      const more = lines.length > 1 ? ` (and ${lines.length - 1} more)` : "";
      throw new RucheError(ErrorCode.BadRequest, `the node registration is not valid: ${lines[0] ?? ""}${more}`, { path: first?.path ?? "Node", details: lines });
    }
    checkSpeaksFor(speaker, parsed.node, admission, "register");
    const res = await server.registerNode(parsed.node);
    return { body: res, index: res.Index };
  });
  r.put("/v1/client/heartbeat/:id", async (req) => {
    const id = req.params.id ?? "";
    return { body: await server.heartbeat(id, ownNode(req, id, "heartbeat for"), heartbeatSample(req.body)), index: store.index };
  });
  r.get("/v1/client/allocations/:id", async (req) => {
    const id = req.params.id ?? "";
    server.nodes.authenticate(id, ownNode(req, id, "read the allocations of"));
    const b = blockingParams(req.query);
    if (b === null || b.index === 0) {
      const answer = await blocking(ctx, req, ["allocs"], () => store.allocsByNode(id));
      return { body: await identities.sign(answer.body), index: answer.index };
    }
    // The watch answers when one of this node's own allocations changed past the index (or
    // one left it), as Nomad's Node.GetClientAllocs watches the node's allocations: a commit
    // on other nodes' allocations wakes it only to look, not to answer (with 10,000 nodes
    // each reporting its allocations, answering every watch on every commit costs N²).
    // A workload identity with a TTL due for renewal ends the wait: the answer carries a fresh one.
    const deadline = Math.min(Date.now() + b.waitMs, identities.renewalDue(store.allocsByNode(id)));
    const before = store.allocsByNode(id).length;
    let seen = b.index;
    for (;;) {
      const allocs = store.allocsByNode(id);
      if (allocs.length !== before || allocs.some((a) => a.ModifyIndex > b.index)) return { body: await identities.sign(allocs), index: Math.max(1, store.tableIndex("allocs")) };
      const left = deadline - Date.now();
      if (left <= 0) return { body: await identities.sign(allocs), index: Math.max(1, store.tableIndex("allocs")) };
      seen = Math.max(seen, await store.waitFor(["allocs"], seen, left, req.signal));
    }
  });
  r.put("/v1/client/allocations/:id", async (req) => {
    const id = req.params.id ?? "";
    const nodeSecret = ownNode(req, id, "update the allocations of");
    const b = (req.body ?? {}) as { Allocs?: unknown };
    if (!Array.isArray(b.Allocs)) throw new RucheError(ErrorCode.BadRequest, 'the body must be {"Allocs": [...]}', { path: "Allocs" });
    for (const [i, u] of (b.Allocs as unknown[]).entries()) {
      const x = u as Partial<AllocUpdate> | null;
      if (x === null || typeof x !== "object" || typeof x.ID !== "string" || typeof x.ClientStatus !== "string") {
        throw new RucheError(ErrorCode.BadRequest, "each update needs ID and ClientStatus", { path: `Allocs[${i}]` });
      }
      if (!(Object.values(AllocClientStatus) as string[]).includes(x.ClientStatus)) {
        throw new RucheError(ErrorCode.BadRequest, `ClientStatus "${x.ClientStatus}" is not a client status`, { path: `Allocs[${i}].ClientStatus` });
      }
      const net = x.NetworkStatus as unknown;
      if (net !== undefined && (net === null || typeof net !== "object" || typeof (net as { Address?: unknown }).Address !== "string" || typeof (net as { InterfaceName?: unknown }).InterfaceName !== "string")) {
        throw new RucheError(ErrorCode.BadRequest, "NetworkStatus must be an object with InterfaceName and Address strings (Nomad's AllocNetworkStatus)", { path: `Allocs[${i}].NetworkStatus` });
      }
    }
    const res = await server.updateAllocs(id, nodeSecret, b.Allocs as AllocUpdate[]);
    return { body: res, index: res.Index };
  });
  // The node's dynamic host volumes: the ones its agent is to make (pending) or remove
  // (deleted), read as a blocking query, and its reports of what it did.
  r.get("/v1/client/host-volumes/:id", async (req) => {
    const id = req.params.id ?? "";
    server.nodes.authenticate(id, ownNode(req, id, "read the host volumes of"));
    return blocking(ctx, req, ["hostVolumes"], () => store.hostVolumes(undefined).filter((v) => v.NodeID === id));
  });
  r.put("/v1/client/host-volumes/:id", async (req) => {
    const id = req.params.id ?? "";
    const nodeSecret = ownNode(req, id, "report the host volumes of");
    const b = (req.body ?? {}) as { Volumes?: unknown };
    if (!Array.isArray(b.Volumes)) throw new RucheError(ErrorCode.BadRequest, 'the body must be {"Volumes": [{"ID", "Namespace", "HostPath"?, "CapacityBytes"?, "Error"?}, ...]}', { path: "Volumes" });
    const reports = (b.Volumes as unknown[]).map((u, i): HostVolumeReport => {
      const x = (u ?? {}) as Record<string, unknown>;
      const at = `Volumes[${i}]`;
      if (typeof x.ID !== "string" || x.ID === "" || typeof x.Namespace !== "string" || x.Namespace === "") throw new RucheError(ErrorCode.BadRequest, "each report needs the volume's ID and Namespace", { path: at });
      if (x.HostPath !== undefined && typeof x.HostPath !== "string") throw new RucheError(ErrorCode.BadRequest, "HostPath must be a string", { path: `${at}.HostPath` });
      if (x.CapacityBytes !== undefined && (typeof x.CapacityBytes !== "number" || !Number.isSafeInteger(x.CapacityBytes) || x.CapacityBytes < 0)) throw new RucheError(ErrorCode.BadRequest, "CapacityBytes must be a whole number of bytes", { path: `${at}.CapacityBytes` });
      if (x.Error !== undefined && typeof x.Error !== "string") throw new RucheError(ErrorCode.BadRequest, "Error must be a string", { path: `${at}.Error` });
      return { ID: x.ID, Namespace: x.Namespace, ...(x.HostPath === undefined ? {} : { HostPath: x.HostPath }), ...(x.CapacityBytes === undefined ? {} : { CapacityBytes: x.CapacityBytes }), ...(x.Error === undefined ? {} : { Error: x.Error }) };
    });
    const res = await server.reportHostVolumes(id, nodeSecret, reports);
    return { body: res, index: res.Index };
  });
  // The statuses a server's agent probed for the checks of services registered directly on its node (Consul's agent API through it), when it does not lead.
  const registry = new ServiceRegistry(store, Date.now);
  r.put("/v1/client/checks/:id", async (req) => {
    const id = req.params.id ?? "";
    server.nodes.authenticate(id, ownNode(req, id, "update the checks of"));
    const b = (req.body ?? {}) as { Checks?: unknown };
    if (!Array.isArray(b.Checks)) throw new RucheError(ErrorCode.BadRequest, 'the body must be {"Checks": [{"CheckID", "Status", "Output"}, ...]}', { path: "Checks" });
    const updates = (b.Checks as unknown[]).map((u, i): { CheckID: string; Status: HealthStatus; Output: string } => {
      const x = (u ?? {}) as { CheckID?: unknown; Status?: unknown; Output?: unknown };
      if (typeof x.CheckID !== "string" || x.CheckID === "") throw new RucheError(ErrorCode.BadRequest, "each update needs a CheckID", { path: `Checks[${i}].CheckID` });
      if (x.Status !== "passing" && x.Status !== "warning" && x.Status !== "critical") throw new RucheError(ErrorCode.BadRequest, `Status must be passing, warning or critical, got ${JSON.stringify(x.Status)}`, { path: `Checks[${i}].Status` });
      return { CheckID: x.CheckID, Status: x.Status, Output: typeof x.Output === "string" ? x.Output : "" };
    });
    for (const u of updates) {
      // A check deregistered since it was probed: nothing to set.
      if (registry.list().some((s) => s.NodeID === id && s.Checks.some((c) => c.CheckID === u.CheckID))) await registry.setCheck(id, u.CheckID, u.Status, u.Output);
    }
    return { body: { Index: store.index }, index: store.index };
  });
}

/** The coordinate a node's heartbeat carries (`{"Coord": {...}, "RTTMs": n}`), checked by the server; none without a body. */
function heartbeatSample(body: unknown): CoordinateSample | undefined {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return undefined;
  const b = body as { Coord?: unknown; RTTMs?: unknown };
  if (b.Coord === undefined) return undefined;
  if (b.RTTMs !== undefined && typeof b.RTTMs !== "number") throw new RucheError(ErrorCode.BadRequest, "RTTMs must be a number of milliseconds", { path: "RTTMs" });
  return { Coord: b.Coord as CoordinateSample["Coord"], ...(b.RTTMs === undefined ? {} : { RTTMs: b.RTTMs }) };
}
