/** Where something is in a job file: 1-based line and column. */
export interface Pos {
  line: number;
  col: number;
}

/**
 * One mistake in a job file. `path` names the place in the job (`job.group[webs].count`
 * for HCL, `Job.TaskGroups[0].Count` for JSON); `pos` is set for HCL files.
 */
export interface Diagnostic {
  path: string;
  message: string;
  file?: string;
  pos?: Pos;
}

export function formatDiagnostic(d: Diagnostic): string {
  const where = d.pos === undefined ? (d.file ?? "") : `${d.file ?? "<input>"}:${d.pos.line}:${d.pos.col}`;
  const head = where === "" ? "" : `${where}: `;
  return d.path === "" ? `${head}${d.message}` : `${head}${d.path}: ${d.message}`;
}

/** Diagnostics in file order, then path order; duplicates dropped. */
export function sortDiagnostics(ds: readonly Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  const out: Diagnostic[] = [];
  for (const d of ds) {
    const key = formatDiagnostic(d);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(d);
  }
  return out.sort(
    (a, b) =>
      (a.pos?.line ?? Infinity) - (b.pos?.line ?? Infinity) ||
      (a.pos?.col ?? 0) - (b.pos?.col ?? 0) ||
      a.path.localeCompare(b.path),
  );
}
