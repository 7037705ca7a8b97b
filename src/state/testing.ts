/**
 * Test tools for the data dir's filesystem: a small real filesystem (tmpfs, mounted by the
 * test, which runs as root) that a test fills up or turns read-only.
 */
import { execFile } from "node:child_process";
import { mkdtemp, open, rm, rmdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { errorCode } from "../structs/index.js";

const run = promisify(execFile);

export interface SmallFs {
  /** Where it is mounted. */
  dir: string;
  /** Writes a filler file until the filesystem says ENOSPC. */
  fill(): Promise<void>;
  /** Removes the filler: there is space again. */
  unfill(): Promise<void>;
  /** Remounts it read-only (nothing may hold a file open for writing on it). */
  readOnly(): Promise<void>;
  /** Unmounts it and removes its mount point. */
  unmount(): Promise<void>;
}

/**
 * Mounts a tmpfs of `bytes` on a new temporary directory. Fails, saying why, where mount is
 * refused (not root, no CAP_SYS_ADMIN): a test that needs a full disk does not pass without one.
 */
export async function mountSmallFs(bytes: number): Promise<SmallFs> {
  const dir = await mkdtemp(join(tmpdir(), "ruche-small-fs-"));
  try {
    await run("mount", ["-t", "tmpfs", "-o", `size=${bytes}`, "tmpfs", dir]);
  } catch (err) {
    await rmdir(dir).catch(() => undefined);
    const why = typeof err === "object" && err !== null && "stderr" in err ? String(err.stderr).trim() : String(err);
    throw new Error(`cannot mount a tmpfs on ${dir} (this test needs root, for mount): ${why}`, { cause: err });
  }
  const filler = join(dir, "filler");
  return {
    dir,
    async fill() {
      const f = await open(filler, "a");
      try {
        // Big chunks, then small ones: nothing is left, not even a part of a page.
        for (const size of [1024 * 1024, 4096, 1]) {
          const chunk = Buffer.alloc(size, 0x2e);
          for (;;) {
            try {
              await f.write(chunk);
            } catch (err) {
              if (errorCode(err) === "ENOSPC") break;
              throw err;
            }
          }
        }
      } finally {
        await f.close();
      }
    },
    async unfill() {
      await rm(filler, { force: true });
    },
    async readOnly() {
      await run("mount", ["-o", "remount,ro", dir]);
    },
    async unmount() {
      try {
        await run("umount", [dir]);
      } catch (err) {
        // Detach it all the same, so that no mount outlives the test, and say what held it.
        await run("umount", ["-l", dir]);
        await rmdir(dir);
        throw new Error(`the tmpfs on ${dir} was busy (a file on it was still open): ${String(err)}`, { cause: err });
      }
      await rmdir(dir);
    },
  };
}
