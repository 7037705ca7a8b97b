import { claimsOf } from "../../server/index.js";
import { ErrorCode, hostVolumeFromWire, hostVolumeStub, NamespaceCap, RucheError, type HostVolume } from "../../structs/index.js";
import type { ApiContext } from "../context.js";
import { blocking } from "../context.js";
import type { Request, Router } from "../http.js";
import { inRequestNamespace, queryNamespace } from "../namespace.js";
import { allocStub } from "./jobs.js";

/**
 * The namespace a volume request acts in: the query's (`?namespace=`), else the volume's own,
 * else "default" — the order the ACL door checks them in; a volume that names another
 * namespace than the query's is refused rather than written where the token was not checked.
 */
function volumeNamespace(req: Request, vol: HostVolume): string {
  const q = req.query.get("namespace");
  if (q !== null && q !== "" && vol.Namespace !== "" && vol.Namespace !== q) {
    throw new RucheError(ErrorCode.BadRequest, `the volume's namespace ${JSON.stringify(vol.Namespace)} is not the request's ${JSON.stringify(q)}`, { path: "Volume.Namespace" });
  }
  if (q !== null && q !== "") return q;
  return vol.Namespace !== "" ? vol.Namespace : queryNamespace(req);
}

function volumeOfBody(req: Request): HostVolume {
  const body = req.body;
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new RucheError(ErrorCode.BadRequest, 'the body must be {"Volume": {...}}', { path: "body" });
  const r = hostVolumeFromWire((body as Record<string, unknown>).Volume);
  if (!r.ok) {
    const first = r.problems[0];
    throw new RucheError(ErrorCode.BadRequest, `${first?.path ?? "Volume"}: ${first?.message ?? "invalid"}`, { path: first?.path ?? "Volume", details: r.problems });
  }
  const vol = r.volume;
  return { ...vol, Namespace: volumeNamespace(req, vol) };
}

/**
 * Nomad's host volume endpoints (`command/agent/host_volume_endpoint.go`), in the shapes of the
 * Go client's `api.HostVolume` and `api.HostVolumeStub`: `PUT /v1/volume/host/create` and
 * `/register` (`{"Volume": …}` → `{"Volume": …, "Warnings": ""}`), `GET /v1/volumes?type=host`
 * (`node_id`, `node_pool`, `prefix` filters; `namespace=*` every namespace the token reads),
 * `GET /v1/volume/host/:id` (with the allocations that claim it), `DELETE /v1/volume/host/:id`
 * (and `/:id/delete`).
 */
export function hostVolumeRoutes(r: Router, ctx: ApiContext): void {
  const { store, server } = ctx;

  r.put("/v1/volume/host/create", async (req) => {
    const res = await server.createHostVolume(volumeOfBody(req));
    return { body: { Volume: res.volume, Warnings: "" }, index: res.index };
  });
  r.put("/v1/volume/host/register", async (req) => {
    const res = await server.registerHostVolume(volumeOfBody(req));
    return { body: { Volume: res.volume, Warnings: "" }, index: res.index };
  });

  r.get("/v1/volumes", async (req) => {
    const type = req.query.get("type") ?? "";
    if (type === "csi") throw new RucheError(ErrorCode.BadRequest, "type csi: Ruche does not run CSI plugins; its volumes are host volumes (type=host)", { path: "type" });
    if (type !== "host") throw new RucheError(ErrorCode.BadRequest, `unsupported volume type ${JSON.stringify(type)}: ask for ?type=host`, { path: "type" });
    return blocking(ctx, req, ["hostVolumes"], () => {
      const nodeId = req.query.get("node_id") ?? "";
      const pool = req.query.get("node_pool") ?? "";
      const prefix = req.query.get("prefix") ?? "";
      return inRequestNamespace(req, store.hostVolumes(undefined), NamespaceCap.HostVolumeRead)
        .filter((v) => (nodeId === "" || v.NodeID === nodeId) && (pool === "" || v.NodePool === pool) && v.ID.startsWith(prefix))
        .map(hostVolumeStub);
    });
  });

  r.get("/v1/volume/host/:id", async (req) =>
    blocking(ctx, req, ["hostVolumes", "allocs"], () => {
      const vol = store.hostVolume(queryNamespace(req), req.params.id ?? "");
      if (vol === undefined) throw new RucheError(ErrorCode.NotFound, "volume not found");
      const claims = claimsOf(store, vol);
      return { ...vol, ...(claims.length === 0 ? {} : { Allocations: claims.map(allocStub) }) };
    }),
  );

  const del = async (req: Request) => {
    const res = await server.deleteHostVolume(queryNamespace(req), req.params.id ?? "");
    return { body: null, index: res.index };
  };
  r.delete("/v1/volume/host/:id", del);
  r.delete("/v1/volume/host/:id/delete", del);
}
