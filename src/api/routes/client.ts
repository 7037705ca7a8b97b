import { AllocClientStatus, ErrorCode, parseNode, RucheError, silentLogger, type CoordinateSample } from "../../structs/index.js";
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
    }
    const res = await server.updateAllocs(id, nodeSecret, b.Allocs as AllocUpdate[]);
    return { body: res, index: res.Index };
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
