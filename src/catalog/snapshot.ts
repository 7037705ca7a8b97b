import type { CatalogSnapshot } from "../structs/index.js";
import type { CatalogReader } from "./types.js";

/**
 * The catalog at its current index: every instance of every service, services by name.
 * The one shape of the whole health view: the router builds its table from it in process,
 * and `GET /v1/catalog/snapshot` serves it to a router on another machine.
 */
export function catalogSnapshot(catalog: CatalogReader): CatalogSnapshot {
  const index = catalog.index();
  const instances = Object.keys(catalog.services())
    .sort()
    .flatMap((s) => catalog.instances(s));
  const nodeApis = catalog.nodeApis?.();
  return nodeApis === undefined ? { index, instances } : { index, instances, nodeApis };
}
