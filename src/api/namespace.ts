import { ALL_NAMESPACES, DEFAULT_NAMESPACE, ErrorCode, NamespaceCap, RucheError, type Acl } from "../structs/index.js";
import type { Request } from "./http.js";

/** The namespace a request names: `?namespace=` (Nomad's `QueryOptions.Namespace`), "default" without one. */
export function queryNamespace(req: Pick<Request, "query">): string {
  const q = req.query.get("namespace");
  return q === null || q === "" ? DEFAULT_NAMESPACE : q;
}

/**
 * The namespace a job registration goes to, as Nomad's `namespaceForJob` picks it: the query's
 * (`-namespace`), else the request body's `Namespace`, else the job's own, else "default".
 */
export function jobRequestNamespace(req: Pick<Request, "query" | "body">): string {
  const q = req.query.get("namespace");
  if (q !== null && q !== "") return q;
  const body = req.body;
  if (typeof body !== "object" || body === null) return DEFAULT_NAMESPACE;
  if ("Namespace" in body && typeof body.Namespace === "string" && body.Namespace !== "") return body.Namespace;
  if ("Job" in body && typeof body.Job === "object" && body.Job !== null && "Namespace" in body.Job && typeof body.Job.Namespace === "string" && body.Job.Namespace !== "") return body.Job.Namespace;
  return DEFAULT_NAMESPACE;
}

/**
 * What a list route keeps of its items for this request: those of the namespace it names, or
 * with `?namespace=*` those of every namespace the request's token may read (Nomad's
 * `AllNamespacesSentinel`).
 */
export function inRequestNamespace<T extends { Namespace: string }>(req: Pick<Request, "query" | "acl">, items: readonly T[], cap: NamespaceCap = NamespaceCap.ReadJob): readonly T[] {
  const ns = queryNamespace(req);
  if (ns !== ALL_NAMESPACES) return items.filter((i) => i.Namespace === ns);
  if (req.acl.management) return items;
  const may = new Map<string, boolean>();
  return items.filter((i) => {
    let ok = may.get(i.Namespace);
    if (ok === undefined) may.set(i.Namespace, (ok = req.acl.namespace(i.Namespace, cap)));
    return ok;
  });
}

/** Whether a list's answer depends on the token (`namespace=*` for a token that does not see all): such an answer is not shared through the render cache. */
export function answerPerToken(req: Pick<Request, "query" | "acl">): boolean {
  return queryNamespace(req) === ALL_NAMESPACES && !req.acl.management;
}

/**
 * Refuses a request for an object (an allocation, an evaluation, a deployment found by its
 * ID) of job `job` in a namespace its token may not read, in Nomad's words. The job counts:
 * a workload identity reads its own job's objects and no other's.
 */
export function mayReadIn(acl: Acl, namespace: string, job: string, cap: NamespaceCap = NamespaceCap.ReadJob): void {
  if (!acl.namespace(namespace, cap, job)) throw new RucheError(ErrorCode.Forbidden, "Permission denied");
}
