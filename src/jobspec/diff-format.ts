/**
 * Renders a `JobDiff` as `nomad plan` prints it (`command/job_plan.go`): a marker per
 * line ("+", "-", "+/-"), names aligned within each block, values quoted.
 *
 * Without `verbose`, unchanged fields and objects are hidden at the job, group and
 * task level, and added or deleted groups and tasks are shown by their heading only;
 * inside an edited object every field is printed, so a change is read in context.
 * Plain text: colour is the CLI's business, through `style`.
 */
import type { DiffType, FieldDiff, JobDiff, ObjectDiff, TaskDiff, TaskGroupDiff } from "./diff.js";
import { assertNever } from "../structs/index.js";

export interface DiffStyle {
  /** A change marker: "+", "-" or "+/-". */
  marker?: (text: string, type: DiffType) => string;
  /** A heading: `Job: "x"`, `Task Group: "x"`, `Task: "x"` (bold in Nomad). */
  heading?: (text: string) => string;
  /** One annotation ("forces create") or one update count ("2 ignore"); `kind` is the annotation or update type. */
  note?: (text: string, kind: string) => string;
}

export interface FormatJobDiffOptions {
  verbose: boolean;
  style?: DiffStyle;
}

interface Ctx {
  verbose: boolean;
  marker: (text: string, type: DiffType) => string;
  heading: (text: string) => string;
  note: (text: string, kind: string) => string;
}

export function formatJobDiff(diff: JobDiff, opts: FormatJobDiffOptions): string {
  const ctx: Ctx = {
    verbose: opts.verbose,
    marker: opts.style?.marker ?? identity,
    heading: opts.style?.heading ?? identity,
    note: opts.style?.note ?? identity,
  };
  let out = `${mark(ctx, diff.Type)}${ctx.heading(`Job: ${goQuote(diff.ID)}`)}\n`;

  const expand = diff.Type === "Edited" || ctx.verbose;
  const fields = expand ? shown(diff.Fields, ctx.verbose) : [];
  const objects = expand ? shown(diff.Objects, ctx.verbose) : [];
  let longestMarker = longestMarkerOf(fields, objects);
  for (const group of diff.TaskGroups) longestMarker = Math.max(longestMarker, markerWidth(group.Type));

  const block = aligned(ctx, fields, objects, 0, longestFieldOf(fields), longestMarker);
  if (block.length > 0) out += `${block}\n`;

  for (const group of diff.TaskGroups) {
    out += `${formatGroup(ctx, group, longestMarker - markerWidth(group.Type))}\n`;
  }
  return out.trim();
}

function formatGroup(ctx: Ctx, group: TaskGroupDiff, groupPad: number): string {
  let out = `${mark(ctx, group.Type)}${spaces(groupPad)}${ctx.heading(`Task Group: ${goQuote(group.Name)}`)}`;
  const updates = Object.keys(group.Updates)
    .sort(compareText)
    .flatMap((kind) => {
      const count = group.Updates[kind] ?? 0;
      return count > 0 ? [ctx.note(`${count} ${kind}`, kind)] : [];
    });
  out += updates.length > 0 ? ` (${updates.join(", ")})\n` : "\n";

  const expand = group.Type === "Edited" || ctx.verbose;
  const fields = expand ? shown(group.Fields, ctx.verbose) : [];
  const objects = expand ? shown(group.Objects, ctx.verbose) : [];
  let longestMarker = longestMarkerOf(fields, objects);
  for (const task of group.Tasks) longestMarker = Math.max(longestMarker, markerWidth(task.Type));

  const start = groupPad + 2;
  const block = aligned(ctx, fields, objects, start, longestFieldOf(fields), longestMarker);
  if (block.length > 0) out += `${block}\n`;

  for (const task of group.Tasks) {
    out += `${formatTask(ctx, task, start, longestMarker - markerWidth(task.Type))}\n`;
  }
  return out;
}

function formatTask(ctx: Ctx, task: TaskDiff, start: number, taskPad: number): string {
  let out = `${spaces(start)}${mark(ctx, task.Type)}${spaces(taskPad)}${ctx.heading(`Task: ${goQuote(task.Name)}`)}`;
  if (task.Annotations.length > 0) out += ` (${notes(ctx, task.Annotations)})`;

  if (task.Type === "None") return out;
  if ((task.Type === "Added" || task.Type === "Deleted") && !ctx.verbose) return out;

  const fields = shown(task.Fields, ctx.verbose);
  const objects = shown(task.Objects, ctx.verbose);
  const block = aligned(ctx, fields, objects, start + 2, longestFieldOf(fields), longestMarkerOf(fields, objects));
  return block.length > 0 ? `${out}\n${block}` : out;
}

/** An object block; every field of it is printed, nested objects only when changed (or verbose). */
function formatObject(ctx: Ctx, diff: ObjectDiff, start: number, keyPad: number): string {
  const width = markerWidth(diff.Type);
  let out = `${spaces(start)}${mark(ctx, diff.Type)}${spaces(keyPad)}${diff.Name} {\n`;
  const objects = shown(diff.Objects, ctx.verbose);
  out += aligned(
    ctx,
    diff.Fields,
    objects,
    start + keyPad + 2,
    longestFieldOf(diff.Fields),
    longestMarkerOf(diff.Fields, objects),
  );
  return `${out}\n${spaces(start + width + keyPad)}}`;
}

function formatField(ctx: Ctx, diff: FieldDiff, start: number, keyPad: number, valuePad: number): string {
  let out = `${spaces(start)}${mark(ctx, diff.Type)}${spaces(keyPad)}${diff.Name}: ${spaces(valuePad)}`;
  switch (diff.Type) {
    case "Added":
      out += goQuote(diff.New);
      break;
    case "Deleted":
      out += goQuote(diff.Old);
      break;
    case "Edited":
      out += `${goQuote(diff.Old)} => ${goQuote(diff.New)}`;
      break;
    case "None":
      out += goQuote(diff.New);
      break;
    default:
      return assertNever(diff.Type, "diff type");
  }
  if (diff.Annotations.length > 0) out += ` (${notes(ctx, diff.Annotations)})`;
  return out;
}

/** Fields then objects, one per line, markers and values lined up; no trailing newline. */
function aligned(
  ctx: Ctx,
  fields: readonly FieldDiff[],
  objects: readonly ObjectDiff[],
  start: number,
  longestField: number,
  longestMarker: number,
): string {
  const lines = [
    ...fields.map((f) =>
      formatField(ctx, f, start, longestMarker - markerWidth(f.Type), longestField - f.Name.length),
    ),
    ...objects.map((o) => formatObject(ctx, o, start, longestMarker - markerWidth(o.Type))),
  ];
  return lines.join("\n");
}

function shown<T extends { Type: DiffType }>(items: readonly T[], verbose: boolean): readonly T[] {
  return verbose ? items : items.filter((d) => d.Type !== "None");
}

function longestFieldOf(fields: readonly FieldDiff[]): number {
  return Math.max(0, ...fields.map((f) => f.Name.length));
}

function longestMarkerOf(fields: readonly FieldDiff[], objects: readonly ObjectDiff[]): number {
  return Math.max(0, ...fields.map((f) => markerWidth(f.Type)), ...objects.map((o) => markerWidth(o.Type)));
}

const MARKERS: Readonly<Record<DiffType, string>> = { Added: "+", Deleted: "-", Edited: "+/-", None: "" };

/** The marker and the space after it, styled; "" for an unchanged line. */
function mark(ctx: Ctx, type: DiffType): string {
  const text = MARKERS[type];
  return text === "" ? "" : `${ctx.marker(text, type)} `;
}

/** Width of the marker with its space, before any styling. */
function markerWidth(type: DiffType): number {
  const text = MARKERS[type];
  return text === "" ? 0 : text.length + 1;
}

function notes(ctx: Ctx, annotations: readonly string[]): string {
  return annotations.map((a) => ctx.note(a, a)).join(", ");
}

function spaces(n: number): string {
  return " ".repeat(Math.max(0, n));
}

function identity(text: string): string {
  return text;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const GO_ESCAPES: Readonly<Record<string, string>> = {
  "\u0007": "\\a",
  "\b": "\\b",
  "\f": "\\f",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\v": "\\v",
  '"': '\\"',
  "\\": "\\\\",
};

/** Quotes text as Go's %q does for printable text: double quotes, backslash escapes. */
function goQuote(text: string): string {
  let out = '"';
  for (const ch of text) {
    const escaped = GO_ESCAPES[ch];
    if (escaped !== undefined) {
      out += escaped;
      continue;
    }
    const code = ch.codePointAt(0) ?? 0;
    if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, "0")}`;
    else if ((code >= 0x80 && code < 0xa0) || code === 0x2028 || code === 0x2029 || code === 0xfeff) {
      out += `\\u${code.toString(16).padStart(4, "0")}`;
    } else out += ch;
  }
  return `${out}"`;
}
