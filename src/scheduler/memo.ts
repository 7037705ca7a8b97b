import { portKey, type Node } from "../structs/index.js";
import { compileRegexp } from "./operators.js";
import type { Ready } from "./ready.js";
import { NO_PORTS, parsePortList } from "./usage.js";

/**
 * What the scheduler works out from its input and keeps, so as not to work it out again:
 * the ready nodes of a node list, compiled patterns, nodes' reserved ports. All of it is
 * derived from objects the view hands out and never changes (a view hands out a new node
 * list, and new node objects, when nodes change), so keeping it changes no placement,
 * only the time one takes. `schedule` makes one per evaluation unless its caller keeps
 * one across evaluations, as the server's worker does.
 */
export class SchedulerMemo {
  /** Per node list: per datacenters and pool, the ready nodes (see `readyNodes`). */
  readonly ready = new WeakMap<readonly Node[], Map<string, Ready>>();
  private readonly patterns = new Map<string, RegExp | null>();
  private readonly reserved = new WeakMap<Node, ReadonlySet<number>>();

  /** `compileRegexp`, once per pattern. */
  readonly regexp = (pattern: string): RegExp | null => {
    let re = this.patterns.get(pattern);
    if (re === undefined) {
      re = compileRegexp(pattern);
      if (this.patterns.size > 1000) this.patterns.clear();
      this.patterns.set(pattern, re);
    }
    return re;
  };

  /**
   * The host ports a node keeps for itself, as `portKey`s: `Reserved.ReservedHostPorts`
   * ("22,80,8000-8100") on each of its addresses, and each host network's `reserved_ports` on
   * that network's addresses (Nomad's `NetworkIndex.SetNode` merges them the same way).
   */
  reservedPorts(node: Node): ReadonlySet<number> {
    if (node.Reserved.ReservedHostPorts === "" && node.NodeNetworks === undefined) return NO_PORTS;
    let s = this.reserved.get(node);
    if (s === undefined) {
      const global = parsePortList(node.Reserved.ReservedHostPorts);
      const keys = new Set(global);
      const own = node.Resources.IP;
      for (const n of node.NodeNetworks ?? []) {
        for (const a of n.Addresses) {
          if (a.Address !== own) for (const p of global) keys.add(portKey(a.Address, own, p));
          for (const p of parsePortList(a.ReservedPorts)) keys.add(portKey(a.Address, own, p));
        }
      }
      s = keys.size === 0 ? NO_PORTS : keys;
      this.reserved.set(node, s);
    }
    return s;
  }
}
