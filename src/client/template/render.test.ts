import { describe, expect, it } from "vitest";
import { NomadVarItem } from "./deps.js";
import { sprintf } from "./exec.js";
import { TemplateError } from "./parse.js";
import { compileTemplate, parseEnvFile, renderTemplate } from "./render.js";
import { healthServices, keyPairs } from "./source.js";

const WEB = [
  { Node: "n1", NodeID: "i1", Kind: "", Address: "10.0.0.1", NodeAddress: "10.0.0.1", NodeDatacenter: "dc1", NodeTaggedAddresses: {}, NodeMeta: {}, ServiceMeta: { v: "1" }, ID: "web-1", Name: "web", Namespace: "", Tags: ["blue", "http"], Checks: [], Status: "passing", Port: 8001, Weights: { Passing: 1, Warning: 1 } },
  { Node: "n2", NodeID: "i2", Kind: "", Address: "10.0.0.2", NodeAddress: "10.0.0.2", NodeDatacenter: "dc1", NodeTaggedAddresses: {}, NodeMeta: {}, ServiceMeta: {}, ID: "web-2", Name: "web", Namespace: "", Tags: ["green"], Checks: [], Status: "passing", Port: 8002, Weights: { Passing: 1, Warning: 1 } },
];
const NOMAD_API = [
  { ID: "a", Name: "api", Namespace: "default", Node: "n1", Datacenter: "dc1", JobID: "j", AllocID: "al1", Tags: [], Address: "10.1.0.1", Port: 9001 },
  { ID: "b", Name: "api", Namespace: "default", Node: "n2", Datacenter: "dc1", JobID: "j", AllocID: "al2", Tags: [], Address: "10.1.0.2", Port: 9002 },
  { ID: "c", Name: "api", Namespace: "default", Node: "n3", Datacenter: "dc1", JobID: "j", AllocID: "al3", Tags: [], Address: "10.1.0.3", Port: 9003 },
];

const brain = new Map<string, unknown>([
  ["kv.block(app/port)", "8080"],
  ["kv.get(app/port)", "8080"],
  ["kv.get(app/none)", null],
  ["kv.list(app)", keyPairs("app", [
    { Key: "app/a", Value: Buffer.from("1").toString("base64"), Flags: 0, CreateIndex: 1, ModifyIndex: 1, LockIndex: 0 },
    { Key: "app/b", Value: Buffer.from("2").toString("base64"), Flags: 0, CreateIndex: 1, ModifyIndex: 1, LockIndex: 0 },
    { Key: "app/sub/c", Value: Buffer.from("3").toString("base64"), Flags: 0, CreateIndex: 1, ModifyIndex: 1, LockIndex: 0 },
    { Key: "app/sub/", Value: null, Flags: 0, CreateIndex: 1, ModifyIndex: 1, LockIndex: 0 },
  ])],
  ["health.service(web|passing)", WEB],
  ["health.service(blue.web|passing)", WEB.slice(0, 1)],
  ["health.service(web@dc2|passing)", []],
  ["health.service(web|any)", WEB],
  ["catalog.services", [{ Name: "db", Tags: [] }, { Name: "web", Tags: ["blue", "green"] }]],
  ["nomad.service(api)", NOMAD_API],
  ["nomad.service(api?choose=2|k)", NOMAD_API.slice(0, 2)],
  ["nomad.service.list", [{ Name: "api", Tags: [] }]],
  ["nomad.var.block(nomad/jobs/app)", { password: new NomadVarItem("password", "s3cret", "nomad/jobs/app"), user: new NomadVarItem("user", "bob", "nomad/jobs/app") }],
  ["nomad.var.list(nomad/jobs)", [{ Namespace: "default", Path: "nomad/jobs/app", CreateIndex: 1, ModifyIndex: 2, CreateTime: 0, ModifyTime: 0 }]],
  ["file(local/in.txt)", "from a file"],
]);
const env = { NOMAD_ALLOC_ID: "abc", NOMAD_PORT_http: "8080", EMPTY: "" };

function render(text: string, o: { left?: string; right?: string; errMissingKey?: boolean } = {}): string {
  const r = renderTemplate(compileTemplate(text, o), { brain, env, node: { ID: "node-1", Name: "n1", Datacenter: "dc1", NodeClass: "", Attributes: { "unique.network.ip-address": "192.168.1.5" }, Meta: { rack: "r1" } } as never });
  if (!r.ok) throw new Error(`missing ${r.missing.join(", ")}`);
  return r.output;
}

describe("the template language (Go's text/template)", () => {
  it.each([
    ["text only", "plain", "plain"],
    ["trim markers", "a  {{- 1 -}}  b", "a1b"],
    ["comments", "a{{/* nothing */}}b{{- /* trimmed */ -}} c", "abc"],
    ["variables and assignment", `{{ $x := 1 }}{{ $x = 2 }}{{ $x }}`, "2"],
    ["if / else if / else", `{{ if eq 1 2 }}a{{ else if eq 2 2 }}b{{ else }}c{{ end }}`, "b"],
    ["range with index and value", `{{ range $i, $v := split "," "x,y" }}{{ $i }}={{ $v }};{{ end }}`, "0=x;1=y;"],
    ["range else", `{{ range split "," "" }}x{{ else }}empty{{ end }}`, "empty"],
    ["range over a map in key order", `{{ range $k, $v := parseJSON "{\\"b\\":2,\\"a\\":1}" }}{{ $k }}{{ $v }}{{ end }}`, "a1b2"],
    ["range over a number, break and continue", `{{ range $i := 5 }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ if eq $i 3 }}{{ break }}{{ end }}{{ $i }}{{ end }}`, "02"],
    ["with and else", `{{ with "" }}no{{ else }}yes{{ end }}{{ with "v" }}{{ . }}{{ end }}`, "yesv"],
    ["comparisons", `{{ lt 1 2 }} {{ le 2 2 }} {{ gt 1 2 }} {{ ge "b" "a" }} {{ ne 1 2 }} {{ eq "a" "b" "a" }}`, "true true false true true true"],
    ["and, or, not", `{{ and 1 "x" }} {{ and 0 "x" }} {{ or "" "y" }} {{ not true }}`, "x 0 y false"],
    ["len and index", `{{ len "héllo" }} {{ len (split "," "a,b") }} {{ index (split "," "a,b") 1 }}`, "6 2 b"],
    ["printf, print, println", `{{ printf "%s=%d %05.1f %q %v %x %-3s|" "a" 7 3.14159 "q" true 255 "z" }}{{ print 1 2 "s" }}{{ println "x" }}`, 'a=7 003.1 "q" true ff z  |1 2sx\n'],
    ["pipelines feed the last argument", `{{ "Hello" | toUpper | printf "%s!" }}`, "HELLO!"],
    ["parenthesised pipelines and fields", `{{ (index (service "web") 1).Address }}`, "10.0.0.2"],
    ["a missing map key", `{{ $m := parseJSON "{}" }}{{ $m.nope }}`, "<no value>"],
    ["define and template", `{{ define "row" }}[{{ . }}]{{ end }}{{ template "row" "a" }}{{ template "row" 2 }}`, "[a][2]"],
    ["custom delimiters", `[[ key "app/port" ]] {{ kept }}`, "8080 {{ kept }}"],
  ])("%s", (_name, text, want) => {
    const left = text.startsWith("[[") ? "[[" : "{{";
    expect(render(text, left === "[[" ? { left: "[[", right: "]]" } : {})).toBe(want);
  });

  it("says where a template is wrong", () => {
    expect(() => compileTemplate("a\n{{ if true }}x")).toThrow(/line 2: unclosed if/);
    expect(() => compileTemplate("{{ end }}")).toThrow(TemplateError);
    expect(() => render("{{ nosuch 1 }}")).toThrow(/function "nosuch" not defined/);
    expect(() => render("{{ $nope }}")).toThrow(/undefined variable \$nope/);
    expect(() => render(`{{ $m := parseJSON "{}" }}{{ $m.nope }}`, { errMissingKey: true })).toThrow(/no entry for key "nope"/);
    expect(() => render(`{{ lt 1 "a" }}`)).toThrow(/incompatible types/);
  });

  it("formats as Go's fmt does", () => {
    expect(sprintf("%d%%", [50])).toBe("50%");
    expect(sprintf("%s %s", ["a"])).toBe("a %!s(MISSING)");
    expect(sprintf("%v", [["a", 1]])).toBe("[a 1]");
    expect(sprintf("%v", [{ b: 1, a: "x" }])).toBe("map[a:x b:1]");
  });
});

describe("consul-template's functions", () => {
  it.each([
    ["key", `{{ key "app/port" }}`, "8080"],
    ["key with a leading slash", `{{ key "/app/port" }}`, "8080"],
    ["keyOrDefault of a key that exists, and of one that does not", `{{ keyOrDefault "app/port" "1" }} {{ keyOrDefault "app/none" "def" }}`, "8080 def"],
    ["keyExists", `{{ keyExists "app/port" }} {{ keyExists "app/none" }}`, "true false"],
    ["ls: the keys right under a prefix", `{{ range ls "app" }}{{ .Key }}={{ .Value }};{{ end }}`, "a=1;b=2;"],
    ["tree: every key under a prefix", `{{ range tree "app" }}{{ .Key }}={{ .Value }};{{ end }}`, "a=1;b=2;sub/c=3;"],
    ["service: address, port, tags, meta, node", `{{ range service "web" }}{{ .Address }}:{{ .Port }} {{ .Tags }} {{ .ServiceMeta.v }} {{ .Node }} {{ .ID }};{{ end }}`, "10.0.0.1:8001 [blue http] 1 n1 web-1;10.0.0.2:8002 [green] <no value> n2 web-2;"],
    ["service with a tag", `{{ range service "blue.web" }}{{ .ID }}{{ end }}`, "web-1"],
    ["service in another datacenter", `{{ range service "web@dc2" }}x{{ else }}none{{ end }}`, "none"],
    ["service with a status filter", `{{ len (service "web|any") }} {{ len (service "web" "any") }}`, "2 2"],
    ["services", `{{ range services }}{{ .Name }}:{{ join "," .Tags }};{{ end }}`, "db:;web:blue,green;"],
    ["nomadService", `{{ range nomadService "api" }}{{ .Address }}:{{ .Port }} {{ .AllocID }};{{ end }}`, "10.1.0.1:9001 al1;10.1.0.2:9002 al2;10.1.0.3:9003 al3;"],
    ["nomadService sharded: count, key, name (the servers choose)", `{{ range nomadService 2 "k" "api" }}{{ .ID }}{{ end }}`, "ab"],
    ["nomadServices", `{{ range nomadServices }}{{ .Name }}{{ end }}`, "api"],
    ["nomadVar: items print as their values", `{{ with nomadVar "nomad/jobs/app" }}{{ .password }} {{ .user.Value }}{{ end }}`, "s3cret bob"],
    ["nomadVar: range over items", `{{ range $k, $v := nomadVar "nomad/jobs/app" }}{{ $k }}={{ $v }};{{ end }}`, "password=s3cret;user=bob;"],
    ["nomadVarList", `{{ range nomadVarList "nomad/jobs" }}{{ .Path }}{{ end }}`, "nomad/jobs/app"],
    ["env, and the node's attributes", `{{ env "NOMAD_ALLOC_ID" }} {{ env "NOPE" }}| {{ env "attr.unique.network.ip-address" }} {{ env "node.datacenter" }} {{ env "meta.rack" }}`, "abc | 192.168.1.5 dc1 r1"],
    ["envOrDefault", `{{ envOrDefault "EMPTY" "d" }} {{ envOrDefault "NOMAD_PORT_http" "d" }}`, "d 8080"],
    ["file", `{{ file "local/in.txt" }}`, "from a file"],
    ["toJSON and toJSONPretty", `{{ parseJSON "{\\"b\\":[1,2],\\"a\\":\\"<x>\\"}" | toJSON }}|{{ parseJSON "{\\"a\\":1}" | toJSONPretty }}`, '{"a":"\\u003cx\\u003e","b":[1,2]}|{\n  "a": 1\n}'],
    ["parseInt, parseFloat, parseBool", `{{ add 1 (parseInt "41") }} {{ parseFloat "1.5" }} {{ parseBool "true" }}`, "42 1.5 true"],
    ["split and join", `{{ split "," "a,b,c" | join ";" }}`, "a;b;c"],
    ["replaceAll, regexReplaceAll, regexMatch", `{{ replaceAll "." "-" "a.b.c" }} {{ regexReplaceAll "(\\\\d+)" "<$1>" "a12b" }} {{ regexMatch "^a" "abc" }}`, "a-b-c a<12>b true"],
    ["toLower, toUpper, toTitle, trimSpace", `{{ toLower "AB" }} {{ toUpper "ab" }} {{ toTitle "hello world" }} [{{ trimSpace "  x  " }}]`, "ab AB Hello World [x]"],
    ["trimPrefix, trimSuffix, trim", `{{ trimPrefix "ab" "abc" }} {{ trimSuffix "bc" "abc" }} {{ trim "xax" "x" }}`, "c a a"],
    ["contains, containsAny, containsAll, containsNone, in", `{{ $t := (index (service "web") 0).Tags }}{{ $t | contains "blue" }} {{ $t | containsAny (split "," "x,blue") }} {{ $t | containsAll (split "," "blue,x") }} {{ $t | containsNone (split "," "x") }} {{ in (split "," "a,b") "b" }}`, "true true false true true"],
    ["base64Encode and base64Decode", `{{ base64Encode "hello" }} {{ base64Decode "aGVsbG8=" }} {{ base64URLEncode "??>" }} {{ base64URLDecode "Pz8-" }}`, "aGVsbG8= hello Pz8- ??>"],
    ["sha256Hex and md5sum", `{{ sha256Hex "a" | printf "%.8s" }} {{ md5sum "a" | printf "%.8s" }}`, "ca978112 0cc175b9"],
    ["math in consul-template's order", `{{ add 1 2 }} {{ 5 | subtract 2 }} {{ multiply 3 4 }} {{ 10 | divide 4 }} {{ 10 | modulo 4 }} {{ maximum 3 9 }} {{ minimum 3 9 }}`, "3 3 12 2 2 9 3"],
    ["loop", `{{ range loop 3 }}{{ . }}{{ end }} {{ range loop 2 4 }}{{ . }}{{ end }}`, "012 23"],
    ["byTag", `{{ range $tag, $s := service "web" | byTag }}{{ $tag }}:{{ len $s }};{{ end }}`, "blue:1;green:1;http:1;"],
    ["byKey and explode", `{{ range $k, $v := tree "app" | byKey }}{{ $k }}:{{ len $v }}{{ end }} {{ (tree "app" | explode).sub.c }}`, "sub:1 3"],
    ["indent", `{{ indent 2 "a\\nb" }}`, "  a\n  b"],
  ])("%s", (_name, text, want) => {
    expect(render(text)).toBe(want);
  });

  it("a read not answered yet is missing, and the render waits for it", () => {
    const r = renderTemplate(compileTemplate(`{{ key "other" }}{{ range service "db" }}{{ end }}`), { brain, env });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.missing).toEqual(["health.service(db|passing)", "kv.block(other)"]);
  });

  it("refuses Vault's functions, saying why", () => {
    expect(() => render(`{{ with secret "secret/x" }}{{ .Data.pw }}{{ end }}`)).toThrow(/Ruche does not run Vault/);
  });
});

describe("an env = true template's output", () => {
  it("is read as KEY=VALUE lines, with comments, export and quotes", () => {
    expect(parseEnvFile('# comment\n\nA=1\nexport B = two \nC="x\\ny"\nD=\'$raw\'\nE=v # note\n')).toEqual({ ok: true, env: { A: "1", B: "two", C: "x\ny", D: "$raw", E: "v" } });
    expect(parseEnvFile("just words")).toEqual({ ok: false, error: 'line 1: expected KEY=VALUE, got "just words"' });
  });
});

describe("Consul's answers as consul-template shows them", () => {
  it("health entries: the service's address or else the node's, filtered by their checks' worst status", () => {
    const entries = [
      { Node: { Node: "b", Address: "10.0.0.2" }, Service: { ID: "s2", Service: "web", Port: 2, Address: "" }, Checks: [{ Status: "critical" }] },
      { Node: { Node: "a", Address: "10.0.0.1" }, Service: { ID: "s1", Service: "web", Port: 1, Address: "192.168.0.1", Tags: ["x", "x"] }, Checks: [{ Status: "passing" }] },
    ];
    expect(healthServices(entries, "passing").map((s) => [s.ID, s.Address, s.Tags])).toEqual([["s1", "192.168.0.1", ["x"]]]);
    expect(healthServices(entries, "any").map((s) => [s.ID, s.Address, s.Status])).toEqual([
      ["s1", "192.168.0.1", "passing"],
      ["s2", "10.0.0.2", "critical"],
    ]);
  });
});
