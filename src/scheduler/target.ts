import type { Node } from "../structs/index.js";

/**
 * Resolves a constraint target against a node: `${attr.kernel.name}`, `${node.datacenter}`,
 * `${node.unique.name}`, `${node.unique.id}`, `${node.class}`, `${node.pool}`,
 * `${meta.role}`; anything else is a literal. Returns undefined when the node lacks it.
 */
export function resolveTarget(target: string, node: Node): string | undefined {
  if (!target.startsWith("${") || !target.endsWith("}")) return target;
  const name = target.slice(2, -1);
  switch (name) {
    case "node.unique.id":
      return node.ID;
    case "node.datacenter":
      return node.Datacenter;
    case "node.unique.name":
      return node.Name;
    case "node.class":
      return node.NodeClass;
    case "node.pool":
      return node.NodePool;
    default:
      break;
  }
  if (name.startsWith("attr.")) return node.Attributes[name.slice(5)];
  if (name.startsWith("meta.")) return node.Meta[name.slice(5)];
  return undefined;
}

/** Whether a target reads something unique to one node, so a result cannot be shared by nodes alike. */
export function targetIsUnique(target: string): boolean {
  return target.includes("unique.") || target === "${node.unique.id}";
}
