/**
 * REDIS_URL parsing: a pure function, so every accepted form and every refusal is testable
 * without a network. No ioredis here; `redis-connection.ts` turns the result into a client.
 */

export interface RedisAddress {
  readonly host: string;
  readonly port: number;
}

interface Credentials {
  readonly username: string | undefined;
  readonly password: string | undefined;
}

export type RedisTarget =
  | (Credentials & { readonly mode: "standalone"; readonly host: string; readonly port: number; readonly tls: boolean; readonly db: number })
  | (Credentials & { readonly mode: "sentinel"; readonly sentinels: readonly RedisAddress[]; readonly masterName: string; readonly db: number })
  | (Credentials & { readonly mode: "cluster"; readonly nodes: readonly RedisAddress[] });

const ACCEPTED_REDIS_URL_FORMS = [
  "redis://[[username]:password@]host[:port][/db]",
  "rediss://[[username]:password@]host[:port][/db]   (TLS)",
  "redis+sentinel://[[username]:password@]host:port[,host:port...]/masterName[?db=N]",
  "redis+cluster://[[username]:password@]host:port[,host:port...]",
] as const;

const MAX_DB = 15;

/**
 * Parses REDIS_URL strictly. Error messages never repeat the URL (it may hold a password).
 * Throws an Error naming the accepted forms when the URL is not one of them.
 */
export function parseRedisUrl(url: string): RedisTarget {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  switch (scheme) {
    case "redis":
    case "rediss":
      return parseStandalone(url, scheme === "rediss");
    case "redis+sentinel":
      return parseMultiHost(url, "sentinel");
    case "redis+cluster":
      return parseMultiHost(url, "cluster");
    default:
      throw invalid(scheme === undefined ? "it has no scheme" : `unsupported scheme "${scheme}:"`);
  }
}

/** The URL with any password replaced by "***", for logs and error messages. */
export function redactRedisUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^@/?#]*)@/i, (_match, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(":");
    return colon === -1 ? `${scheme}***@` : `${scheme}${userinfo.slice(0, colon)}:***@`;
  });
}

function parseStandalone(url: string, tls: boolean): RedisTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid("it is not a valid URL");
  }
  if (parsed.hostname === "") throw invalid("it has no host");
  if (parsed.search !== "" || parsed.hash !== "") throw invalid("query parameters and fragments are not accepted in redis:// URLs");
  const path = parsed.pathname.replace(/^\//, "");
  return {
    mode: "standalone",
    host: parsed.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: parsed.port === "" ? 6379 : Number(parsed.port),
    tls,
    db: path === "" ? 0 : parseDb(path),
    ...credentials(parsed.username, parsed.password),
  };
}

function parseMultiHost(url: string, mode: "sentinel" | "cluster"): RedisTarget {
  const match = /^[^:]+:\/\/(?:([^@/?#]*)@)?([^/?#]+)(\/[^?#]*)?(\?[^#]*)?$/.exec(url);
  if (!match) throw invalid(`it is not a valid redis+${mode}:// URL`);
  const [, userinfo, hostList = "", path = "", query = ""] = match;
  const colon = userinfo?.indexOf(":") ?? -1;
  const creds =
    userinfo === undefined
      ? credentials("", "")
      : colon === -1
        ? credentials(userinfo, "")
        : credentials(userinfo.slice(0, colon), userinfo.slice(colon + 1));
  const hosts = hostList.split(",").map((entry, index) => parseAddress(entry, index, mode === "sentinel" ? 26379 : 6379));
  const params = new URLSearchParams(query.replace(/^\?/, ""));

  if (mode === "cluster") {
    if (path !== "" && path !== "/") throw invalid("a redis+cluster:// URL has no path (Cluster has only database 0)");
    if ([...params.keys()].length > 0) throw invalid("a redis+cluster:// URL takes no query parameters");
    return { mode, nodes: hosts, ...creds };
  }

  const masterName = safeDecode(path.replace(/^\//, ""));
  if (masterName === "" || masterName.includes("/")) throw invalid("a redis+sentinel:// URL needs the master name as its path");
  for (const key of params.keys()) if (key !== "db") throw invalid(`unknown query parameter "${key}" (only db is accepted)`);
  const db = params.get("db");
  return { mode, sentinels: hosts, masterName, db: db === null ? 0 : parseDb(db), ...creds };
}

function parseAddress(entry: string, index: number, defaultPort: number): RedisAddress {
  const match = /^(?:\[([0-9a-f:.]+)\]|([a-z0-9._-]+))(?::(\d{1,5}))?$/i.exec(entry.trim());
  const host = match?.[1] ?? match?.[2];
  // The entry is not echoed: in a mistyped URL it could hold part of a password.
  if (!match || host === undefined) throw invalid(`host #${index + 1} is not host[:port]`);
  const port = match[3] === undefined ? defaultPort : Number(match[3]);
  if (port < 1 || port > 65535) throw invalid(`the port of host #${index + 1} is out of range`);
  return { host, port };
}

function parseDb(text: string): number {
  if (!/^\d{1,2}$/.test(text) || Number(text) > MAX_DB) throw invalid(`database "${text}" is not a number from 0 to ${MAX_DB}`);
  return Number(text);
}

function credentials(username: string, password: string): Credentials {
  return {
    username: username === "" ? undefined : safeDecode(username),
    password: password === "" ? undefined : safeDecode(password),
  };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw invalid("it holds a malformed percent-encoding");
  }
}

function invalid(why: string): Error {
  return new Error(`REDIS_URL is not usable: ${why}. Accepted forms:\n  ${ACCEPTED_REDIS_URL_FORMS.join("\n  ")}`);
}
