import { hashKind, verifyPassword } from "./htpasswd.js";
import type { Options } from "./options.js";
import { answer, header, setHeader, type Wrap } from "./types.js";

/** `basicAuth`: users `name:hash` (htpasswd), realm, headerField, removeHeader. */
export interface BasicAuthConfig {
  type: "basicAuth";
  users: { name: string; hash: string }[];
  realm: string;
  /** A request header the authenticated user's name is forwarded in, or null. */
  headerField: string | null;
  /** Whether the Authorization header is removed before forwarding. */
  removeHeader: boolean;
}

/** Reads `users=name:hash,...`, `realm`, `headerField`, `removeHeader`; never shows a hash in an error. */
export function parseBasicAuth(o: Options): BasicAuthConfig {
  const users: BasicAuthConfig["users"] = [];
  for (const entry of o.list("users") ?? []) {
    const colon = entry.indexOf(":");
    const name = colon < 0 ? "" : entry.slice(0, colon);
    if (name === "") o.fail("users", "each user must be name:hash (as htpasswd writes it)");
    const hash = entry.slice(colon + 1);
    if (hashKind(hash) === null) o.fail("users", `the hash of user ${name} is not one basicAuth takes (bcrypt $2y$/$2a$/$2b$, $apr1$, $1$ or {SHA})`);
    users.push({ name, hash });
  }
  if (o.str("usersFile") !== undefined) o.fail("usersFile", "a users file is not read by this router: give the users in the users tag");
  if (users.length === 0) o.fail("users", "no user is given");
  const headerField = o.str("headerField");
  return { type: "basicAuth", users, realm: o.str("realm") ?? "traefik", headerField: headerField === undefined || headerField === "" ? null : headerField, removeHeader: o.bool("removeHeader", false) };
}

/** Lets through requests with a user's name and password; others get 401 with `WWW-Authenticate: Basic realm="..."`. */
export function basicAuth(c: BasicAuthConfig): Wrap {
  const refuse = (): ReturnType<typeof answer> => answer(401, "401 Unauthorized\n", { "www-authenticate": `Basic realm="${c.realm.replace(/"/g, '\\"')}"` });
  return (next) => async (x) => {
    const auth = header(x, "authorization");
    const m = auth === undefined ? null : /^basic\s+(\S+)\s*$/i.exec(auth);
    if (m === null) return refuse();
    const decoded = Buffer.from(m[1] as string, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) return refuse();
    const name = decoded.slice(0, colon);
    const user = c.users.find((u) => u.name === name);
    if (user === undefined || !(await verifyPassword(decoded.slice(colon + 1), user.hash))) return refuse();
    if (c.removeHeader) setHeader(x, "authorization", null);
    if (c.headerField !== null) setHeader(x, c.headerField, name);
    return next(x);
  };
}
