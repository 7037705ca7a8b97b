import { AllocClientStatus, ErrorCode, parseNode, RucheError } from "../../structs/index.js";
import type { AllocUpdate } from "../../server/index.js";
import { blocking, type ApiContext } from "../context.js";
import { blockingParams, type Request, type Router } from "../http.js";

/** The endpoints a client agent uses. A node authenticates with its secret and reaches only its own allocations. */
export function clientRoutes(r: Router, ctx: ApiContext): void {
  const { store, server } = ctx;
  const secret = (req: Request): string => {
    const s = req.headers["x-ruche-node-secret"];
    if (typeof s !== "string" || s === "") throw new RucheError(ErrorCode.Unauthorized, "the X-Ruche-Node-Secret header is missing");
    return s;
  };

  r.put("/v1/client/register", async (req) => {
    const b = req.body;
    if (b === null || typeof b !== "object" || Array.isArray(b)) throw new RucheError(ErrorCode.BadRequest, 'the body must be {"Node": {...}}', { path: "Node" });
    const parsed = parseNode((b as { Node?: unknown }).Node);
    if (!parsed.ok) {
      const lines = parsed.problems.map((p) => `${p.path}: ${p.message}`);
      const first = parsed.problems[0];
      const more = lines.length > 1 ? ` (and ${lines.length - 1} more)` : "";
      throw new RucheError(ErrorCode.BadRequest, `the node registration is not valid: ${lines[0] ?? ""}${more}`, { path: first?.path ?? "Node", details: lines });
    }
    const res = await server.registerNode(parsed.node);
    return { body: res, index: res.Index };
  });
  r.put("/v1/client/heartbeat/:id", async (req) => ({ body: await server.heartbeat(req.params.id ?? "", secret(req)), index: store.index }));
  r.get("/v1/client/allocations/:id", async (req) => {
    const id = req.params.id ?? "";
    server.nodes.authenticate(id, secret(req));
    const b = blockingParams(req.query);
    if (b === null || b.index === 0) return blocking(ctx, req, ["allocs"], () => store.allocsByNode(id));
    // The watch answers when one of this node's own allocations changed past the index (or
    // one left it), as Nomad's Node.GetClientAllocs watches the node's allocations: a commit
    // on other nodes' allocations wakes it only to look, not to answer (with 10,000 nodes
    // each reporting its allocations, answering every watch on every commit costs N²).
    const deadline = Date.now() + b.waitMs;
    const before = store.allocsByNode(id).length;
    let seen = b.index;
    for (;;) {
      const allocs = store.allocsByNode(id);
      if (allocs.length !== before || allocs.some((a) => a.ModifyIndex > b.index)) return { body: allocs, index: Math.max(1, store.tableIndex("allocs")) };
      const left = deadline - Date.now();
      if (left <= 0) return { body: allocs, index: Math.max(1, store.tableIndex("allocs")) };
      seen = Math.max(seen, await store.waitFor(["allocs"], seen, left, req.signal));
    }
  });
  r.put("/v1/client/allocations/:id", async (req) => {
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
    const res = await server.updateAllocs(req.params.id ?? "", secret(req), b.Allocs as AllocUpdate[]);
    return { body: res, index: res.Index };
  });
}
