import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import { taskPaths } from "./alloc-dir.js";
import type { PrestartResult, TaskHook, TaskHookContext } from "./hook.js";

/**
 * A dispatched job's payload, written before the task starts to `local/<file>` of the task's
 * directory as its `dispatch_payload { file }` says (Nomad's `dispatch_hook`). A task without
 * the block, or a job that is no dispatch (no payload), writes nothing; an empty payload
 * writes an empty file, as Nomad's does (its mode 0777, less the umask, as Nomad's).
 */
export class DispatchPayloadHook implements TaskHook {
  readonly name = "dispatch-payload";

  /** `payload`: the job's `Payload`, base64; undefined when the job is no dispatch. */
  constructor(
    private readonly ctx: TaskHookContext,
    private readonly payload: string | undefined,
  ) {}

  async prestart(): Promise<PrestartResult> {
    const file = this.ctx.task.DispatchPayload?.File ?? "";
    if (file === "" || this.payload === undefined) return { ok: true };
    const local = taskPaths(this.ctx.spec.allocDir, this.ctx.spec.taskName).local;
    const to = join(local, file);
    // Validation refuses a file that leaves the directory; a job stored before it is checked here too.
    const rel = relative(local, to);
    if (rel === "" || rel === ".." || rel.startsWith(`..${sep}`)) return { ok: false, event: "Setup Failure", reason: `dispatch_payload: file "${file}" is not under the task's local/` };
    await mkdir(dirname(to), { recursive: true });
    await writeFile(to, Buffer.from(this.payload, "base64"), { mode: 0o777 });
    return { ok: true };
  }
}
