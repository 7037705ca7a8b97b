import type { AclPrefixKind } from "./acl.js";

/**
 * One ACL policy's rules, as `jobspec`'s `parseAclPolicy` reads them from HCL or JSON and
 * `compileAcl` turns them (with the token's other policies) into an `Acl`. Plain data: it
 * may be stored or sent as JSON.
 */
export interface AclRules {
  /** Nomad's `namespace "NAME" { policy, capabilities }`, in file order. NAME may hold `*` globs. */
  namespaces: NamespaceRule[];
  /** Nomad's `node { policy }` (the nodes' list, drain, eligibility); absent: not granted. */
  node?: CoarsePolicy;
  /** Nomad's `agent { policy }` and Consul's `agent` (`/v1/agent/*`). */
  agent?: CoarsePolicy;
  /** Nomad's `operator { policy }` and Consul's `operator = "..."`. */
  operator?: CoarsePolicy;
  /** Consul's `key_prefix`, `key`, `service_prefix`, `service`, `session_prefix`, `session`, `node_prefix`, `node "NAME"`. */
  prefixes: PrefixRule[];
}

/** The levels of Nomad's coarse blocks (`node`, `agent`, `operator`). */
export const CoarsePolicy = { Deny: "deny", Read: "read", Write: "write" } as const;
export type CoarsePolicy = (typeof CoarsePolicy)[keyof typeof CoarsePolicy];

/** The levels of a Nomad namespace block's `policy`: `scale` is the autoscaler's set. */
export const NamespacePolicy = { Deny: "deny", Read: "read", Write: "write", Scale: "scale" } as const;
export type NamespacePolicy = (typeof NamespacePolicy)[keyof typeof NamespacePolicy];

/** One `namespace "NAME" { ... }` block. */
export interface NamespaceRule {
  /** The namespace, or a glob of them (`*`, `prod-*`): Nomad's `^[a-zA-Z0-9-*]{1,128}$`. */
  name: string;
  policy?: NamespacePolicy;
  /** As written; each one of `NOMAD_NAMESPACE_CAPABILITIES`. */
  capabilities: string[];
  /** Nomad's `variables { path "GLOB" { capabilities = [...] } }`, in file order, capabilities expanded (`expandVariableCapabilities`). */
  variables?: VariablePathRule[];
}

/** One `path "GLOB" { capabilities }` of a namespace's `variables` block: GLOB may hold `*`. */
export interface VariablePathRule {
  path: string;
  capabilities: string[];
}

/** The levels of Consul's rules: `list` (keys only) grants reading and listing, `write` everything. */
export const PrefixPolicy = { Deny: "deny", Read: "read", List: "list", Write: "write" } as const;
export type PrefixPolicy = (typeof PrefixPolicy)[keyof typeof PrefixPolicy];

/** One of Consul's rules: `key_prefix "app/" { policy = "read" }` (exact: false) or `key "app/x" { ... }` (exact: true). */
export interface PrefixRule {
  kind: AclPrefixKind;
  name: string;
  exact: boolean;
  policy: PrefixPolicy;
}

/**
 * Every capability a Nomad namespace block may name (Nomad's `isNamespaceCapabilityValid`).
 * Ruche's routes check those of `NamespaceCap` (the host volume ones among them, which imply
 * others as Nomad's `expandNamespaceCapabilities`: `acl-compile.ts`); the others (CSI,
 * scaling policies, recommendations, Sentinel) are accepted so that a Nomad policy reads the
 * same here, and grant nothing Ruche has.
 */
export const NOMAD_NAMESPACE_CAPABILITIES = [
  "deny",
  "list-jobs",
  "parse-job",
  "read-job",
  "submit-job",
  "dispatch-job",
  "read-logs",
  "read-fs",
  "alloc-exec",
  "alloc-node-exec",
  "alloc-lifecycle",
  "sentinel-override",
  "csi-register-plugin",
  "csi-write-volume",
  "csi-read-volume",
  "csi-list-volume",
  "csi-mount-volume",
  "list-scaling-policies",
  "read-scaling-policy",
  "read-job-scaling",
  "scale-job",
  "submit-recommendation",
  "host-volume-create",
  "host-volume-register",
  "host-volume-read",
  "host-volume-write",
  "host-volume-delete",
] as const;

const READ = ["list-jobs", "parse-job", "read-job", "csi-list-volume", "csi-read-volume", "read-job-scaling", "list-scaling-policies", "read-scaling-policy", "host-volume-read"];
const WRITE = [
  ...READ,
  "scale-job",
  "submit-job",
  "dispatch-job",
  "read-logs",
  "read-fs",
  "alloc-exec",
  "alloc-lifecycle",
  "csi-mount-volume",
  "csi-write-volume",
  "submit-recommendation",
  "host-volume-create",
];

/**
 * The capabilities a namespace block's `policy` stands for, as Nomad expands them
 * (`expandNamespacePolicy`): `alloc-node-exec` is never implied, only named.
 */
export function expandNamespacePolicy(policy: NamespacePolicy): readonly string[] {
  switch (policy) {
    case "deny":
      return ["deny"];
    case "read":
      return READ;
    case "write":
      return WRITE;
    case "scale":
      return ["list-scaling-policies", "read-scaling-policy", "read-job-scaling", "scale-job", "read-job", "submit-recommendation"];
    default: {
      const never: never = policy;
      return never;
    }
  }
}

/** Nomad's rule for a namespace block's label. */
export const NAMESPACE_PATTERN = /^[a-zA-Z0-9-*]{1,128}$/;
