/**
 * What real job files write that Nomad's jobspec takes (found by
 * test/jobspec/nomad-corpus.test.ts): runtime references outside strings, the rest of HCL's
 * functions, and validation rules as Nomad's own.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Job } from "../structs/index.js";
import { formatDiagnostic, parseJob } from "./index.js";

async function ok(src: string): Promise<Job> {
  const r = await parseJob(src, { file: "job.hcl" });
  if (!r.ok) throw new Error(r.diagnostics.map(formatDiagnostic).join("\n"));
  return r.job;
}

async function errors(src: string): Promise<string[]> {
  const r = await parseJob(src, { file: "job.hcl" });
  if (r.ok) throw new Error("the job was accepted");
  return r.diagnostics.map(formatDiagnostic);
}

function job(task: string, group = "", top = "", before = ""): string {
  return `${before}
job "j" {
  datacenters = ["dc1"]
${top}
  group "g" {
${group}
    task "t" {
      driver = "docker"
      config { image = "redis:7" }
${task}
    }
  }
}
`;
}

/** The value of an HCL expression, through a job's meta (as JSON, so lists and maps come back too). */
async function value(expr: string): Promise<unknown> {
  const j = await ok(job("", "", `  meta {\n    v = jsonencode(${expr})\n  }`));
  return JSON.parse(j.Meta.v ?? "null");
}

async function failure(expr: string): Promise<string> {
  return (await errors(job("", "", `  meta {\n    v = jsonencode(${expr})\n  }`))).join("\n");
}

describe("a runtime reference outside a string is the string of it, as Nomad's UndefinedVariable makes it", () => {
  it("attr.*, a bare name, an index: kept as ${...} wherever the value goes", async () => {
    const j = await ok(
      job(
        '      env {\n        HOSTNAME = attr.unique.hostname\n        IMAGE_PROVIDER = dalle\n        RACK = meta["rack"]\n        MEM = "${memory.totalbytes}"\n        MIXED = "${attr.os.name}-${var.v}"\n      }\n      constraint {\n        attribute = attr.cpu.arch\n        value = "amd64"\n      }',
        "",
        "",
        'variable "v" {\n  default = "x"\n}',
      ),
    );
    const t = j.TaskGroups[0]?.Tasks[0];
    expect(t?.Env).toEqual({ HOSTNAME: "${attr.unique.hostname}", IMAGE_PROVIDER: "${dalle}", RACK: '${meta["rack"]}', MEM: "${memory.totalbytes}", MIXED: "${attr.os.name}-x" });
    expect(t?.Constraints).toEqual([{ LTarget: "${attr.cpu.arch}", RTarget: "amd64", Operand: "=" }]);
  });

  it("inside an expression the reference is that string, as in Nomad", async () => {
    expect(await value('"${upper(node.region)}"')).toBe("${NODE.REGION}");
    expect(await value('[attr.a, "b"]')).toEqual(["${attr.a}", "b"]);
  });

  it("var and local stay resolved; a variable's default may not hold a reference", async () => {
    const j = await ok(job("", "", '  meta {\n    l = local.l\n  }', 'locals {\n  l = "v-${var.v}"\n}\nvariable "v" {\n  default = "x"\n}'));
    expect(j.Meta.l).toBe("v-x");
    const src = job("", "", "", 'variable "x" {\n  default = foo\n}');
    expect((await errors(src)).join("\n")).toMatch(/job\.hcl:2:13: var\.x\.default: unknown variable "foo"; only values are allowed here/);
    expect((await errors(job("", "", "", 'locals {\n  l = "v"\n}\nlocals {\n  m = var.nope\n}'))).join("\n")).toMatch(/no variable named "nope"/);
  });
});

describe("the rest of the functions of Nomad's jobspec", () => {
  it("uuidv4 and uuidv5 (consul-esm)", async () => {
    expect(await value("uuidv4()")).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(await value('uuidv5("dns", "www.example.com")')).toBe("2ed6657d-e927-568b-95e1-2665a8aea6a2");
    expect(await value('uuidv5("6ba7b811-9dad-11d1-80b4-00c04fd430c8", "https://www.terraform.io/")')).toBe(await value('uuidv5("url", "https://www.terraform.io/")'));
    expect(await failure('uuidv5("nope", "x")')).toMatch(/uuidv5: the namespace must be dns, url, oid, x500 or a UUID/);
  });

  it("cidrhost, cidrnetmask, cidrsubnet, cidrsubnets, for IPv4 and IPv6", async () => {
    expect(await value('cidrhost("10.12.112.0/20", 16)')).toBe("10.12.112.16");
    expect(await value('cidrhost("10.12.112.0/20", 268)')).toBe("10.12.113.12");
    expect(await value('cidrhost("10.12.112.0/20", -1)')).toBe("10.12.127.255");
    expect(await value('cidrhost("fd00:fd12:3456:7890:00a2::/72", 34)')).toBe("fd00:fd12:3456:7890::22");
    expect(await value('cidrnetmask("172.16.0.0/12")')).toBe("255.240.0.0");
    expect(await value('cidrsubnet("172.16.0.0/12", 4, 2)')).toBe("172.18.0.0/16");
    expect(await value('cidrsubnet("10.1.2.0/24", 4, 15)')).toBe("10.1.2.240/28");
    expect(await value('cidrsubnet("fd00:fd12:3456:7890::/56", 16, 162)')).toBe("fd00:fd12:3456:7800:a200::/72");
    expect(await value('cidrsubnets("10.1.0.0/16", 4, 4, 8, 4)')).toEqual(["10.1.0.0/20", "10.1.16.0/20", "10.1.32.0/24", "10.1.48.0/20"]);
    expect(await failure('cidrsubnet("10.0.0.0/30", 4, 1)')).toMatch(/insufficient address space/);
    expect(await failure('cidrhost("10.0.0.300/8", 1)')).toMatch(/invalid CIDR address/);
    // Leading zeros are refused, as Go's net.ParseCIDR has refused them since Go 1.17.
    expect(await failure('cidrhost("010.0.0.0/8", 1)')).toMatch(/invalid CIDR address/);
  });

  it("dates: formatdate and timeadd on RFC 3339 timestamps", async () => {
    expect(await value('formatdate("DD MMM YYYY hh:mm ZZZ", "2018-01-02T23:12:01Z")')).toBe("02 Jan 2018 23:12 UTC");
    expect(await value('formatdate("EEEE, DD-MMM-YY hh:mm:ss ZZZ", "2018-01-02T23:12:01Z")')).toBe("Tuesday, 02-Jan-18 23:12:01 UTC");
    expect(await value('formatdate("EEE, DD MMM YYYY hh:mm:ss ZZZ", "2018-01-02T23:12:01-08:00")')).toBe("Tue, 02 Jan 2018 23:12:01 -0800");
    expect(await value('formatdate("HH:mmaa \'o\'\'clock\'", "2018-01-02T23:12:01Z")')).toBe("11:12pm o'clock");
    expect(await value('timeadd("2017-11-22T00:00:00Z", "10m")')).toBe("2017-11-22T00:10:00Z");
    expect(await value('timeadd("2017-11-22T00:00:00+02:00", "-1h30m")')).toBe("2017-11-21T22:30:00+02:00");
    expect(await failure('formatdate("YYYY", "yesterday")')).toMatch(/not an RFC 3339 timestamp/);
  });

  it("strings, numbers, lists, sets and encodings", async () => {
    expect(await value('[trim("?!hello?!", "!?"), strlen("héllo"), strrev("abc"), reverse("abc"), indent(2, "a\\nb")]')).toEqual(["hello", 5, "cba", "cba", "a\n  b"]);
    expect(await value('[parseint("FF", 16), parseint("-10", 2), pow(2, 10), log(8, 2), signum(-3)]')).toEqual([255, -2, 1024, 3, -1]);
    expect(await value('[md5("a"), sha1("a"), sha256("a")]')).toEqual([
      "0cc175b9c0f1b6a831c399e269772661",
      "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8",
      "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb",
    ]);
    expect(await value('urlencode("Hello World!/ü")')).toBe("Hello+World%21%2F%C3%BC");
    expect(await value('regex_replace("hello world", "(?P<w>o)", "[${w}]")')).toBe("hell[o] w[o]rld");
    expect(await value('formatlist("%s=%d", ["a", "b"], [1, 2])')).toEqual(["a=1", "b=2"]);
    expect(await value('[chunklist([1, 2, 3], 2), compact(["a", "", "b"]), coalescelist([], [1])]')).toEqual([[[1, 2], [3]], ["a", "b"], [1]]);
    expect(await value('[setunion(["a", "b"], ["b", "c"]), setintersection(["a", "b"], ["b", "c"]), setproduct(["x"], [1, 2])]')).toEqual([
      ["a", "b", "c"],
      ["b"],
      [
        ["x", 1],
        ["x", 2],
      ],
    ]);
    expect(await value('zipmap(["a", "b"], [1, 2])')).toEqual({ a: 1, b: 2 });
    expect(await value('csvdecode("a,b\\n1,\\"x,y\\"\\n")')).toEqual([{ a: "1", b: "x,y" }]);
  });

  it("try and can evaluate their arguments one at a time", async () => {
    expect(await value('try(tonumber("x"), 7)')).toBe(7);
    expect(await value('[can(tonumber("1")), can(tonumber("x"))]')).toEqual([true, false]);
    expect(await failure('try(tonumber("x"))')).toMatch(/try: no argument could be evaluated without an error/);
  });

  it("the filesystem functions are refused over the API, naming the function, as Nomad's server refuses them", async () => {
    expect(await failure('file("config.yml")')).toMatch(/job\.hcl:\d+:\d+: .*file\(\): filesystem functions are disabled here/);
  });

  it("the CLI's read beside the job file: file, filebase64, fileexists, fileset, basename, dirname", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ruche-fs-fn-"));
    try {
      mkdirSync(join(dir, "templates", "sub"), { recursive: true });
      writeFileSync(join(dir, "templates", "app.yml.tpl"), "port: {{ env \"NOMAD_PORT_http\" }}\n");
      writeFileSync(join(dir, "templates", "sub", "b.tpl"), "b");
      writeFileSync(join(dir, "bin.dat"), Buffer.from([0xff, 0x00]));
      const read = async (expr: string): Promise<unknown> => {
        const r = await parseJob(job("", "", `  meta {\n    v = jsonencode(${expr})\n  }`), { file: "job.hcl", fileBase: dir });
        if (!r.ok) throw new Error(r.diagnostics.map(formatDiagnostic).join("\n"));
        return JSON.parse(r.job.Meta.v ?? "null");
      };
      expect(await read('file("./templates/app.yml.tpl")')).toBe('port: {{ env "NOMAD_PORT_http" }}\n');
      expect(await read('filebase64("bin.dat")')).toBe("/wA=");
      expect(await read('[fileexists("bin.dat"), fileexists("nope")]')).toEqual([true, false]);
      expect(await read('fileset("templates", "**/*.tpl")')).toEqual(["app.yml.tpl", "sub/b.tpl"]);
      expect(await read('fileset(".", "templates/*.tpl")')).toEqual(["templates/app.yml.tpl"]);
      expect(await read('[basename("a/b.txt"), dirname("a/b.txt")]')).toEqual(["b.txt", "a"]);
      const missing = await parseJob(job("", "", '  meta {\n    v = file("templates/none.tpl")\n  }'), { file: "job.hcl", fileBase: dir });
      expect(missing.ok).toBe(false);
      if (!missing.ok) expect(missing.diagnostics.map(formatDiagnostic).join("\n")).toMatch(/job\.hcl:\d+:\d+: .*file: cannot read templates\/none\.tpl \(.*\): no such file/);
      const binary = await parseJob(job("", "", '  meta {\n    v = file("bin.dat")\n  }'), { file: "job.hcl", fileBase: dir });
      if (!binary.ok) expect(binary.diagnostics.map(formatDiagnostic).join("\n")).toMatch(/bin\.dat is not UTF-8 text; use filebase64/);
      else throw new Error("a binary file was read as text");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("validation as Nomad's", () => {
  it("migrate: min_healthy_time equal to healthy_deadline is taken, more is refused; update refuses equal", async () => {
    const mig = (a: string, b: string): string => job("", `    migrate {\n      min_healthy_time = "${a}"\n      healthy_deadline = "${b}"\n    }`);
    expect((await ok(mig("5m", "5m"))).TaskGroups[0]?.Migrate?.MinHealthyTime).toBe(300e9);
    expect((await errors(mig("6m", "5m"))).join("\n")).toMatch(/min_healthy_time \(6m0s\) must not be more than healthy_deadline \(5m0s\)/);
    const upd = (a: string, b: string, c = "10m"): string => job("", `    update {\n      min_healthy_time = "${a}"\n      healthy_deadline = "${b}"\n      progress_deadline = "${c}"\n    }`);
    expect((await errors(upd("5m", "5m"))).join("\n")).toMatch(/min_healthy_time \(5m0s\) must be less than healthy_deadline \(5m0s\)/);
    expect((await errors(upd("10s", "5m", "5m"))).join("\n")).toMatch(/healthy_deadline must be less than progress_deadline: 5m0s >= 5m0s/);
    await ok(upd("10s", "5m", "0s"));
  });

  it("one set of static ports per host network; a host network's name is checked", async () => {
    const port = (label: string, hostNet: string): string => `      port "${label}" {\n        static = 53\n${hostNet === "" ? "" : `        host_network = "${hostNet}"\n`}      }`;
    const src = job("", `    network {\n${port("dns", "")}\n${port("dns-iot", "IOT")}\n${port("dns-kids", "kids")}\n    }`);
    const ports = (await ok(src)).TaskGroups[0]?.Networks[0]?.ReservedPorts;
    expect(ports?.map((p) => `${p.Label}@${p.HostNetwork}`)).toEqual(["dns@default", "dns-iot@IOT", "dns-kids@kids"]);
    await ok(job("", `    network {\n${port("dns", "${meta.network}")}\n    }`));
    expect((await errors(job("", `    network {\n${port("dns", "my net")}\n    }`))).join("\n")).toMatch(/host_network "my net" must name a host network of the nodes/);
    expect((await errors(job("", `    network {\n${port("a", "IOT")}\n${port("b", "IOT")}\n    }`))).join("\n")).toMatch(/static port 53 is already taken by port "a" on host network "IOT"/);
    expect((await errors(job("", `    network {\n${port("a", "")}\n${port("b", "default")}\n    }`))).join("\n")).toMatch(/static port 53 is already taken by port "a"/);
  });

  it("restart attempts = -1 is taken, as Nomad takes it (no restart within the interval)", async () => {
    const j = await ok(job("", '    restart {\n      attempts = -1\n      mode = "delay"\n    }'));
    expect(j.TaskGroups[0]?.RestartPolicy.Attempts).toBe(-1);
  });

  it("restart attempts = 0 in mode delay is refused as Nomad refuses it (ambiguous); in mode fail it is taken", async () => {
    const restart = (mode: string): string => job("", `    restart {\n      attempts = 0\n      mode = "${mode}"\n    }`);
    expect((await errors(restart("delay"))).join("\n")).toMatch(/job\.hcl:\d+:\d+: job\.group\[g\]\.restart\.attempts: restart policy "delay" with 0 attempts is ambiguous/);
    expect((await ok(restart("fail"))).TaskGroups[0]?.RestartPolicy.Attempts).toBe(0);
  });

  it("a task's network of bandwidth alone beside the group's network is taken; one with ports is still refused", async () => {
    const groupNet = '    network {\n      port "http" { to = 80 }\n    }';
    const j = await ok(job("      resources {\n        network {\n          mbits = 10\n        }\n      }", groupNet));
    expect(j.TaskGroups[0]?.Networks).toHaveLength(1);
    expect(j.TaskGroups[0]?.Networks[0]?.DynamicPorts.map((p) => p.Label)).toEqual(["http"]);
    expect(j.TaskGroups[0]?.Networks[0]?.MBits).toBe(10);
    const withPort = job('      resources {\n        network {\n          port "db" {}\n        }\n      }', groupNet);
    expect((await errors(withPort)).join("\n")).toMatch(/declare it once, in the group/);
  });
});
