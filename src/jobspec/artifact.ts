import { ARTIFACT_MODES, leavesAllocDir, parseArtifactSource, parseChecksum, type TaskArtifact } from "../structs/index.js";

/**
 * A task's `artifact` blocks checked as Nomad's `TaskArtifact.Validate` does (a source, a
 * mode of the three, a destination inside the allocation's directory, a well-formed
 * checksum), and what Ruche cannot fetch refused here rather than on the node: a source or
 * option with `${...}` is checked on the node once interpolated.
 */
export function artifactProblems(a: TaskArtifact, at: string, p: (path: string, message: string) => void): void {
  if (!ARTIFACT_MODES.includes(a.GetterMode)) p(`${at}.GetterMode`, `invalid artifact mode "${a.GetterMode}"; must be one of: ${ARTIFACT_MODES.join(", ")}`);
  const dest = a.RelativeDest;
  if (!dest.includes("${")) {
    // Nomad's `PathEscapesAllocViaRelative("task", dest)`: an absolute destination is taken from the task's directory too.
    if (leavesAllocDir(dest)) p(`${at}.RelativeDest`, `artifact destination "${dest}" escapes the allocation directory`);
  }
  if (a.Chown) p(`${at}.Chown`, "artifact chown is not supported yet: the files belong to the agent's user; remove chown");
  const checksum = a.GetterOptions?.checksum;
  if (checksum !== undefined && !checksum.includes("${")) {
    const c = parseChecksum(checksum);
    if (!c.ok) {
      p(`${at}.GetterOptions.checksum`, c.reason);
      return;
    }
  }
  for (const [k, v] of Object.entries(a.GetterHeaders ?? {})) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k)) p(`${at}.GetterHeaders`, `header name ${JSON.stringify(k)} is not a valid HTTP header name`);
    else if (/[\r\n\0]/.test(v)) p(`${at}.GetterHeaders.${k}`, `header ${k}: a value may not hold a line break`);
  }
  if (a.GetterSource.includes("${") || Object.values(a.GetterOptions ?? {}).some((v) => v.includes("${"))) {
    if (a.GetterSource.trim() === "") p(`${at}.GetterSource`, "artifact source must be specified");
    return;
  }
  const parsed = parseArtifactSource(a.GetterSource, a.GetterOptions);
  if (!parsed.ok) {
    p(`${at}.GetterSource`, `artifact ${parsed.reason}`);
    return;
  }
  const s = parsed.source;
  // go-getter's rules that would only fail on the node.
  const singleFile = s.archive === "gz" || s.archive === "bz2" || s.archive === "xz";
  if (singleFile && a.GetterMode !== "file") p(`${at}.GetterMode`, `a .${s.archive} file unpacks to a single file: set mode = "file" (and destination to the file's path), or archive = "false" in options`);
  if (s.getter === "git" && a.GetterMode === "file") p(`${at}.GetterMode`, 'a git repository is a directory: mode "file" cannot hold it');
  if (s.getter === "git" && s.checksum !== null) p(`${at}.GetterOptions.checksum`, "checksum cannot be specified for a git repository (a directory download)");
  if (s.getter === "http" && s.archive === null && a.GetterMode === "dir") p(`${at}.GetterMode`, 'an http source fetched in mode "dir" must be an archive (.tar.gz, .zip, …) or a git repository');
}
