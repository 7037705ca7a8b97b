/**
 * Tables and key/value blocks laid out as Nomad's CLI lays them out (it uses `columnize`):
 * every column as wide as its widest cell, two spaces between columns, and no space at
 * the end of a line. No trailing newline: callers join sections with blank lines.
 */

/** A table with a header row; an empty cell is printed as nothing, not as a placeholder. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return columns([header, ...rows], "  ");
}

/** `Key = value` lines, the keys padded to the longest (Nomad's `formatKV`). */
export function formatKV(pairs: readonly (readonly [string, string])[]): string {
  return columns(
    pairs.map(([k, v]) => [k, v]),
    " = ",
  );
}

function columns(rows: readonly (readonly string[])[], glue: string): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, width(cell));
    });
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell + " ".repeat((widths[i] ?? 0) - width(cell))))
        .join(glue)
        .trimEnd(),
    )
    .join("\n");
}

/** Width in characters as a terminal shows them (code points; no wide-character handling). */
function width(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}
