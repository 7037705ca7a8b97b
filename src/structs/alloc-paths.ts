/**
 * Whether a path relative to a task's directory climbs out of its allocation's directory
 * (the task's directory is `<alloc dir>/<task>`: one `..` reaches the allocation's
 * directory, two leave it), as Nomad's `PathEscapesAllocViaRelative`. Pure: it reads the
 * path's words, not the filesystem (symlinks are the client's to check).
 */
export function leavesAllocDir(fromTaskDir: string): boolean {
  // Depth below the allocation's directory, starting in the task's.
  let depth = 1;
  for (const part of fromTaskDir.split("/")) {
    if (part === "..") depth--;
    else if (part !== "" && part !== ".") depth++;
    if (depth < 0) return true;
  }
  return false;
}

/** Nomad's `api.AllocFileInfo`: a file or directory of an allocation directory (`/v1/client/fs/stat`, `/ls`). */
export interface AllocFileInfo {
  Name: string;
  IsDir: boolean;
  Size: number;
  FileMode: string;
  /** RFC 3339. */
  ModTime: string;
  ContentType: string;
}
