import { nodeVariable, type Node } from "../structs/index.js";

/**
 * Resolves a constraint target against a node: `${attr.kernel.name}`, `${node.datacenter}`,
 * `${node.unique.name}`, `${node.unique.id}`, `${node.class}`, `${node.pool}`,
 * `${meta.role}`; anything else is a literal. Returns undefined when the node lacks it.
 */
export function resolveTarget(target: string, node: Node): string | undefined {
  if (!target.startsWith("${") || !target.endsWith("}")) return target;
  return nodeVariable(target.slice(2, -1), node);
}

/** Whether a target reads something unique to one node, so a result cannot be shared by nodes alike. */
export function targetIsUnique(target: string): boolean {
  return target.includes("unique.") || target === "${node.unique.id}";
}
