/** The namespace every job is in unless it names another (Nomad's `structs.DefaultNamespace`). */
export const DEFAULT_NAMESPACE = "default";

/** What `?namespace=*` asks for on a list route: every namespace (Nomad's `structs.AllNamespacesSentinel`). */
export const ALL_NAMESPACES = "*";

/** Which task drivers and network modes a namespace's jobs may use (Nomad's `NamespaceCapabilities`). */
export interface NamespaceCapabilities {
  EnabledTaskDrivers: string[];
  DisabledTaskDrivers: string[];
  EnabledNetworkModes: string[];
  DisabledNetworkModes: string[];
}

/** Which node pools a namespace's jobs may use (Nomad's `NamespaceNodePoolConfiguration`). */
export interface NamespaceNodePoolConfiguration {
  Default: string;
  Allowed: string[];
  Denied: string[];
}

/**
 * A namespace, as Nomad's `api.Namespace` reads and writes it: jobs, their allocations,
 * evaluations and deployments live in one (`Namespace`), and ACL policies grant rights
 * namespace by namespace. Kept in the state (`namespaces`, key the Name); "default" is always
 * there, written or not (`defaultNamespace`), and cannot be deleted.
 */
export interface Namespace {
  Name: string;
  Description: string;
  /** An Enterprise resource quota's name: stored and shown, "" in Ruche (a quota is refused). */
  Quota: string;
  Meta: Record<string, string> | null;
  /** Stored and shown; jobs are not checked against them. */
  Capabilities: NamespaceCapabilities | null;
  /** Stored and shown; Ruche has one node pool, "default". */
  NodePoolConfiguration: NamespaceNodePoolConfiguration | null;
  CreateIndex: number;
  ModifyIndex: number;
}

/** The "default" namespace as it stands before anyone writes it (Nomad makes it at index 1). */
export function defaultNamespace(): Namespace {
  return { Name: DEFAULT_NAMESPACE, Description: "Default shared namespace", Quota: "", Meta: null, Capabilities: null, NodePoolConfiguration: null, CreateIndex: 1, ModifyIndex: 1 };
}

/** Nomad's rule for a namespace's name (`validNamespaceName`): letters, digits and "-", 1 to 128 of them. */
const NAME = /^[a-zA-Z0-9-]{1,128}$/;
/** Nomad's `maxNamespaceDescriptionLength`. */
const MAX_DESCRIPTION = 256;

/**
 * What is wrong with a namespace as written (Nomad's `Namespace.Validate`, in its words), or
 * [] when nothing is. Each problem names its field.
 */
export function namespaceProblems(ns: Pick<Namespace, "Name" | "Description" | "Quota">): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  if (!NAME.test(ns.Name)) out.push({ path: "Name", message: `invalid name ${JSON.stringify(ns.Name)}. Must match regex ^[a-zA-Z0-9-]{1,128}$` });
  if (ns.Description.length > MAX_DESCRIPTION) out.push({ path: "Description", message: `description longer than ${MAX_DESCRIPTION}` });
  if (ns.Quota !== "") out.push({ path: "Quota", message: "resource quotas are a Nomad Enterprise feature that Ruche does not have: leave Quota empty" });
  return out;
}
