/**
 * A secondary index: rows grouped under a group key (a node's ID, a job's namespace and
 * ID), each group's list built on first read after a change and then handed out as is,
 * so a read costs the size of its result and repeated reads cost nothing.
 */
export class GroupIndex<T> {
  private readonly groups = new Map<string, { rows: Map<string, T>; list: readonly T[] | null }>();

  set(group: string, key: string, row: T): void {
    let g = this.groups.get(group);
    if (g === undefined) {
      g = { rows: new Map(), list: null };
      this.groups.set(group, g);
    }
    g.rows.set(key, row);
    g.list = null;
  }

  delete(group: string, key: string): void {
    const g = this.groups.get(group);
    if (g === undefined || !g.rows.delete(key)) return;
    if (g.rows.size === 0) this.groups.delete(group);
    else g.list = null;
  }

  /** The group's rows, in the order they were first put; frozen, and the same array until the group changes. */
  list(group: string): readonly T[] {
    const g = this.groups.get(group);
    if (g === undefined) return EMPTY;
    g.list ??= Object.freeze([...g.rows.values()]);
    return g.list;
  }

  rows(group: string): Iterable<T> {
    return this.groups.get(group)?.rows.values() ?? [];
  }
}

const EMPTY: readonly never[] = Object.freeze([]);

/** The group key of a job's rows (NUL separates: job IDs and namespaces are printable names). */
export function jobGroup(namespace: string, jobId: string): string {
  return `${namespace}\u0000${jobId}`;
}
