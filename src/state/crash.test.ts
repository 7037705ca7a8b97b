/**
 * Crash test of the embedded backend: a real child process writes allocations as fast as it
 * can and is killed with SIGKILL at a random moment, five times over the same data dir.
 * After each kill the store is reopened: every write the child saw acknowledged must be
 * there, and no transaction may be there in part.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { sqliteBackend } from "./sqlite.js";
import { StateStore } from "./store.js";

const RUNNER = fileURLToPath(new URL("./crash.runner.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const ROUNDS = 5;

interface Round {
  acked: { index: number; id: string }[];
  signal: NodeJS.Signals | null;
  stderr: string;
}

/**
 * Runs the writer until `killAfterMs` after its first acknowledged write, then kills it with
 * SIGKILL (counted from the first write, not from "ready": on a busy machine the first commit
 * may come later than the kill would).
 */
function runAndKill(dir: string, round: number, killAfterMs: number): Promise<Round> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", RUNNER, dir, String(round)], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let stderr = "";
    let timer: NodeJS.Timeout | undefined;
    const giveUp = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
      if (timer === undefined && out.startsWith("ready") && out.split("\n").length > 2) timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (_code, signal) => {
      clearTimeout(timer);
      clearTimeout(giveUp);
      // Only whole lines count: a line cut short by the kill was never fully acknowledged.
      const lines = out.split("\n").slice(1, -1);
      const acked = lines.map((l) => {
        const [index, id] = l.split(" ");
        return { index: Number(index), id: id ?? "" };
      });
      resolve({ acked, signal, stderr });
    });
  });
}

describe("sqlite backend under kill -9", () => {
  const dir = mkdtempSync(join(tmpdir(), "ruche-state-crash-"));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it(
    "keeps every acknowledged write and no half transaction, over 5 kills",
    async () => {
      const acked: { index: number; id: string }[] = [];
      for (let round = 1; round <= ROUNDS; round++) {
        const killAfterMs = 20 + Math.floor(Math.random() * 400);
        const r = await runAndKill(dir, round, killAfterMs);
        expect(r.signal, `round ${round} (killed ${killAfterMs} ms after its first write) ended by itself:\n${r.stderr}`).toBe("SIGKILL");
        expect(r.acked.length, `round ${round} acknowledged nothing before the kill:\n${r.stderr}`).toBeGreaterThan(0);
        acked.push(...r.acked);

        const store = await StateStore.open(sqliteBackend(dir));
        try {
          for (const { index, id } of acked) {
            expect(store.alloc(`a-${id}`)?.ModifyIndex, `acknowledged write ${id} at ${index} is missing`).toBe(index);
            expect(store.eval(`e-${id}`)?.ModifyIndex, `acknowledged write ${id} at ${index} is missing its eval`).toBe(index);
          }
          expect(store.index).toBeGreaterThanOrEqual(Math.max(...acked.map((a) => a.index)));
          // Whatever else reached the disk (written, not yet acknowledged) came whole.
          const allocs = store.allocs();
          expect(store.evals()).toHaveLength(allocs.length);
          for (const a of allocs) expect(store.eval(a.EvalID)?.ModifyIndex, `half a transaction: ${a.ID} without ${a.EvalID}`).toBe(a.ModifyIndex);
        } finally {
          await store.close();
        }
      }
      expect(new Set(acked.map((a) => a.index)).size).toBe(acked.length);
    },
    120_000,
  );
});
