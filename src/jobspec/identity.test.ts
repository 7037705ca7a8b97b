import { describe, expect, it } from "vitest";
import { diffJobs, parseJob, taskUpdateClass } from "./index.js";

const job = (identity: string): string => `job "a" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config { command = "/bin/true" }
${identity}
    }
  }
}`;

async function problems(identity: string): Promise<string[]> {
  const r = await parseJob(job(identity), { file: "a.hcl" });
  return r.ok ? [] : r.diagnostics.map((d) => `${d.path}: ${d.message}`);
}

describe("a task's identity blocks", () => {
  it("read as Nomad's: the unnamed one is Identity (audience nomadproject.io), the named ones Identities", async () => {
    const r = await parseJob(job(`identity {\n env = true\n file = true\n}\nidentity {\n name = "vault"\n aud = ["vault.io"]\n ttl = "1h"\n file = true\n}`), { file: "a.hcl" });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const t = r.job.TaskGroups[0]?.Tasks[0];
    expect(t?.Identity).toEqual({ Name: "default", Audience: ["nomadproject.io"], Env: true, File: true, ChangeMode: "", ChangeSignal: "", TTL: 0 });
    expect(t?.Identities).toEqual([{ Name: "vault", Audience: ["vault.io"], Env: false, File: true, ChangeMode: "", ChangeSignal: "", TTL: 3_600_000_000_000 }]);
    // The JSON form (what the CLI sends the API) reads back the same.
    const again = await parseJob(JSON.stringify({ Job: r.job }), { file: "a.json", format: "json" });
    expect(again.ok && again.job.TaskGroups[0]?.Tasks[0]).toMatchObject({ Identity: t?.Identity, Identities: t?.Identities });
  });

  it("show in a plan's diff by name, and replace the task's allocations (its env changes)", async () => {
    const before = await parseJob(job(""), { file: "a.hcl" });
    const after = await parseJob(job(`identity {\n env = true\n}\nidentity {\n name = "vault"\n aud = ["vault.io"]\n ttl = "1h"\n}`), { file: "a.hcl" });
    if (!before.ok || !after.ok) throw new Error("the jobs do not parse");
    const task = diffJobs(before.job, after.job).TaskGroups[0]?.Tasks[0];
    const ids = task?.Objects.filter((o) => o.Name === "Identity") ?? [];
    expect(ids.map((o) => [o.Type, o.Fields.find((f) => f.Name === "Name")?.New, o.Fields.find((f) => f.Name === "Audience")?.New])).toEqual([
      ["Added", "default", "nomadproject.io"],
      ["Added", "vault", "vault.io"],
    ]);
    expect(task === undefined ? "" : taskUpdateClass(task)).toBe("destructive");
  });

  it("leaves a task without one without either", async () => {
    const r = await parseJob(job(""), { file: "a.hcl" });
    expect(r.ok && r.job.TaskGroups[0]?.Tasks[0]?.Identity).toBeUndefined();
  });

  it("refuses what Nomad refuses, and a change_mode on a token Ruche does not sign, saying where", async () => {
    expect(await problems(`identity { env = true }\nidentity { file = true }`)).toEqual([expect.stringContaining("a task has one default identity")]);
    expect(await problems(`identity {\n ttl = "1h"\n}`)).toEqual([expect.stringContaining("the default identity has no ttl")]);
    expect(await problems(`identity {\n name = "a b"\n}`)).toEqual([expect.stringContaining('identity name "a b" is not valid')]);
    expect(await problems(`identity {\n name = "x"\n file = true\n ttl = "1h"\n change_mode = "restart"\n}`)).toEqual([]);
    expect(await problems(`identity {\n name = "x"\n env = true\n ttl = "1h"\n change_mode = "signal"\n change_signal = "sighup"\n}`)).toEqual([]);
    expect(await problems(`identity {\n name = "x"\n file = true\n change_mode = "signal"\n}`)).toEqual([expect.stringContaining('change_signal must be specified when using change_mode = "signal"')]);
    expect(await problems(`identity {\n name = "x"\n change_mode = "restart"\n}`)).toEqual([expect.stringContaining("Ruche signs and renews only a token the task sees: add env = true or file = true")]);
    expect(await problems(`identity {\n name = "x"\n change_mode = "sometimes"\n}`)).toEqual([expect.stringContaining('change_mode must be "noop", "restart" or "signal"')]);
    expect(await problems(`identity {\n name = "x"\n}\nidentity {\n name = "x"\n}`)).toEqual([expect.stringContaining('identity "x" is declared twice')]);
    expect(await problems(`identity {\n filepath = "local/t.jwt"\n}`)).toEqual([expect.stringContaining("file must be true in order to specify filepath")]);
    expect(await problems(`identity {\n file = true\n filepath = "../../x/t.jwt"\n}`)).toEqual([expect.stringContaining("escapes the allocation directory")]);
    const named = await problems(`identity {\n name = "x"\n aud = [""]\n}`);
    expect(named).toEqual([expect.stringMatching(/^job\.group\[g\]\.task\[t\]\.identity\[0\]\.aud.*an audience must not be empty$/)]);
  });
});
