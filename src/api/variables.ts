import { seal, unseal } from "../pki/index.js";
import type { StateStore } from "../state/index.js";
import { ErrorCode, nsOfMs, RucheError, variableItemsProblem, variableMetadata, variablePathProblem, variableRowKey, type StoredVariable, type Variable, type VariableMetadata } from "../structs/index.js";

/** A write's outcome: the variable written (null for a delete), or the one in the way of its check-and-set. */
export type VariableWritten = { ok: true; index: number; variable: Variable | null } | { ok: false; index: number; conflict: Variable | VariableConflict };

/** The variable a check-and-set found instead, when the writer may not read it, or none was there: its metadata, no items (Nomad's redacted conflict). */
export type VariableConflict = VariableMetadata & { Items: null };

/**
 * Nomad's variables over the state's `variables` table: reads, and one store transaction per
 * write with Nomad's rules (path and items checked, `cas` against the ModifyIndex, 0 meaning
 * "only if absent"). The items are sealed at rest with the cluster key when the server has
 * one (AES-256-GCM, bound to the variable's namespace and path: a sealed blob moved to
 * another path does not open), as Nomad encrypts them with its keyring; a server without a
 * cluster key (`-dev`) keeps them as they are.
 */
export class VariableService {
  constructor(
    private readonly store: StateStore,
    private readonly opts: { now(): number; key?: () => Buffer | undefined },
  ) {}

  /** The index of the variables: never 0. */
  index(): number {
    return Math.max(1, this.store.tableIndex("variables"));
  }

  /** A blocking query: resolves with the variables' index once it passes `minIndex`, or when the wait ends. */
  async wait(minIndex: number, timeoutMs: number, signal?: AbortSignal): Promise<number> {
    return Math.max(1, await this.store.waitFor(["variables"], minIndex, timeoutMs, signal));
  }

  /** The variable, its items opened; undefined when there is none. */
  get(namespace: string, path: string): Variable | undefined {
    const row = this.store.variable(namespace, path);
    return row === undefined ? undefined : this.open(row);
  }

  /** The metadata of the variables of `namespace` (every one: undefined) whose path starts with `prefix`. */
  list(namespace: string | undefined, prefix: string): VariableMetadata[] {
    return this.store.variables(namespace, prefix).map(variableMetadata);
  }

  /** Writes a variable whole; with `cas`, only if its ModifyIndex is `cas` (0: only if there is none). */
  async put(namespace: string, path: string, items: Record<string, string>, cas?: number): Promise<VariableWritten> {
    const pathProblem = variablePathProblem(path);
    if (pathProblem !== null) throw new RucheError(ErrorCode.BadRequest, pathProblem, { path: "Path" });
    const itemsProblem = variableItemsProblem(items);
    if (itemsProblem !== null) throw new RucheError(ErrorCode.BadRequest, itemsProblem, { path: "Items" });
    const { index, result } = await this.store.write((tx): { ok: true } | { ok: false; prev: StoredVariable | null } => {
      const prev = tx.get("variables", variableRowKey(namespace, path));
      if (cas !== undefined && (prev?.ModifyIndex ?? 0) !== cas) return { ok: false, prev: prev ?? null };
      const nowNs = nsOfMs(this.opts.now());
      tx.put("variables", { ...variableMetadata({ Namespace: namespace, Path: path, Lock: null, CreateIndex: 0, CreateTime: prev?.CreateTime ?? nowNs, ModifyIndex: 0, ModifyTime: nowNs }), ...this.close(namespace, path, items) });
      return { ok: true };
    });
    if (!result.ok) return { ok: false, index, conflict: this.conflictOf(namespace, path, result.prev) };
    const written = this.store.variable(namespace, path);
    if (written === undefined) throw new RucheError(ErrorCode.Internal, `variable ${path} not found after it was written`);
    return { ok: true, index, variable: this.open(written) };
  }

  /** Deletes a variable (one not there counts as deleted); with `cas`, only at that ModifyIndex (0: only if there is none). */
  async delete(namespace: string, path: string, cas?: number): Promise<VariableWritten> {
    const { index, result } = await this.store.write((tx): { ok: true } | { ok: false; prev: StoredVariable | null } => {
      const prev = tx.get("variables", variableRowKey(namespace, path));
      if (cas !== undefined && (prev?.ModifyIndex ?? 0) !== cas) return { ok: false, prev: prev ?? null };
      if (prev !== undefined) tx.delete("variables", variableRowKey(namespace, path));
      return { ok: true };
    });
    if (!result.ok) return { ok: false, index, conflict: this.conflictOf(namespace, path, result.prev) };
    return { ok: true, index, variable: null };
  }

  /** The variable a check-and-set met: opened, or only its namespace and path when there was none. */
  private conflictOf(namespace: string, path: string, row: StoredVariable | null): Variable | VariableConflict {
    if (row === null) return { Namespace: namespace, Path: path, Lock: null, CreateIndex: 0, CreateTime: 0, ModifyIndex: 0, ModifyTime: 0, Items: null };
    return this.open(row);
  }

  /** The items as the state keeps them: sealed with the cluster key when there is one. */
  private close(namespace: string, path: string, items: Record<string, string>): { Items: Record<string, string> } | { Sealed: string } {
    const key = this.opts.key?.();
    return key === undefined ? { Items: { ...items } } : { Sealed: seal(key, JSON.stringify(items), sealContext(namespace, path)) };
  }

  /** A stored variable with its items opened. */
  private open(row: StoredVariable): Variable {
    const meta = variableMetadata(row);
    if (row.Sealed === undefined) return { ...meta, Items: { ...(row.Items ?? {}) } };
    const key = this.opts.key?.();
    if (key === undefined) throw new RucheError(ErrorCode.Internal, `variable ${row.Path} is sealed with the cluster key, which this server does not have`);
    const opened = unseal(key, row.Sealed, sealContext(row.Namespace, row.Path));
    if (!opened.ok) throw new RucheError(ErrorCode.Internal, `variable ${row.Path} does not open with this server's cluster key (${opened.reason})`);
    return { ...meta, Items: JSON.parse(opened.plain) as Record<string, string> };
  }
}

/** What a sealed variable is bound to: its namespace and path. */
function sealContext(namespace: string, path: string): string {
  return `ruche variable ${namespace}/${path}`;
}
