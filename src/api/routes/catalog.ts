import { catalogSnapshot, type CatalogReader } from "../../catalog/index.js";
import { blockingParams, JsonText, type Router } from "../http.js";

/**
 * Ruche's own view of the catalog, beside Consul's: `GET /v1/catalog/snapshot` answers the
 * whole health view at one index — every instance of every service with its node and
 * checks (`CatalogSnapshot`) — with `?index=&wait=` as a blocking query and the index in
 * `X-Ruche-Index`. A router on another machine follows the catalog with this one query,
 * and builds its table from the same snapshot the in-process router reads.
 */
export function catalogSnapshotRoutes(r: Router, catalog: CatalogReader): void {
  // The routers that one change wakes all ask for the same thing: it is serialised once per index.
  let cached: { index: number; text: JsonText } | undefined;
  r.get("/v1/catalog/snapshot", async (req) => {
    const b = blockingParams(req.query);
    if (b !== null) await catalog.wait(b.index, b.waitMs, req.signal);
    const index = catalog.index();
    if (cached?.index !== index) {
      const snap = catalogSnapshot(catalog);
      cached = { index: snap.index, text: new JsonText(JSON.stringify(snap)) };
    }
    return { body: cached.text, index: cached.index };
  });
}
