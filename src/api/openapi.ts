import { ErrorCode } from "../structs/index.js";
import { PAGED_LISTS } from "./paginate.js";

/** Nomad's pagination, on the lists that take it. */
const PAGE_PARAMETERS = [
  { name: "per_page", in: "query", required: false, schema: { type: "integer", minimum: 0 }, description: "items in one answer (0 or absent: all)" },
  { name: "next_token", in: "query", required: false, schema: { type: "string" }, description: "the first item wanted: the X-Nomad-NextToken of the previous page" },
  { name: "reverse", in: "query", required: false, schema: { type: "boolean" }, description: "walk the list from its end" },
];

/** The API described as OpenAPI 3: every route, its parameters, and the error body all share. */
export function openapi(routes: string[]): unknown {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const [method = "get", path = "/"] = r.split(" ");
    // The dashboard's pages (`/`, `/ui/...`) are served here too, but are not part of the API.
    if (!path.startsWith("/v1/")) continue;
    const p = path.replace(/:(\w+)/g, "{$1}");
    const params = [...path.matchAll(/:(\w+)/g)].map((m) => ({ name: m[1], in: "path", required: true, schema: { type: "string" } }));
    (paths[p] ??= {})[method.toLowerCase()] = {
      parameters: [
        ...params,
        { name: "index", in: "query", required: false, schema: { type: "integer" }, description: "blocking query: return when the index passes this" },
        { name: "wait", in: "query", required: false, schema: { type: "string" }, description: "blocking query: longest wait, such as 30s" },
        ...(method === "GET" && PAGED_LISTS.includes(path) ? PAGE_PARAMETERS : []),
      ],
      responses: {
        "200": { description: "OK; X-Ruche-Index and X-Nomad-Index carry the index to block from next" },
        default: { description: "an error", content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } },
      },
    };
  }
  return {
    openapi: "3.0.3",
    info: { title: "Ruche HTTP API", version: "1" },
    paths,
    components: {
      schemas: {
        Error: {
          type: "object",
          properties: {
            error: {
              type: "object",
              // The codes of the one table in structs/errors.ts.
              properties: { code: { type: "string", enum: Object.values(ErrorCode) }, message: { type: "string" }, path: { type: "string" }, details: {} },
              required: ["code", "message"],
            },
          },
        },
      },
    },
  };
}
