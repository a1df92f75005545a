/**
 * Which proxy, if any, a request to the API server goes through, decided as
 * client-go decides it: the cluster's `proxy-url` when set; else Go's
 * ProxyFromEnvironment: `HTTPS_PROXY` (https servers) or `HTTP_PROXY` (http
 * servers, ignored under CGI's `REQUEST_METHOD`), upper case before lower,
 * unless `NO_PROXY` names the host (a name and its subdomains, `.suffix`,
 * `*`, an IP, a CIDR, each with an optional port), and never for `localhost`
 * or a loopback address. `ALL_PROXY` is not read (Deno's fetch reads it; Go
 * does not).
 */

/** The proxy for `server` (a URL), or undefined to connect directly. */
export function proxyFor(
  server: string,
  proxyUrl: string | undefined,
  env: (name: string) => string | undefined,
): URL | undefined {
  if (proxyUrl !== undefined) return withScheme(proxyUrl);
  const target = new URL(server);
  const get = (name: string) => env(name) || env(name.toLowerCase()) || undefined;
  const proxy = target.protocol === "https:"
    ? get("HTTPS_PROXY")
    : env("REQUEST_METHOD")
    ? undefined
    : get("HTTP_PROXY");
  if (proxy === undefined) return undefined;
  const host = target.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  const port = target.port || (target.protocol === "https:" ? "443" : "80");
  if (isLoopback(host) || noProxy(get("NO_PROXY") ?? "", host, port)) return undefined;
  return withScheme(proxy);
}

/** `proxy:3128` means `http://proxy:3128`, as in Go. */
function withScheme(proxy: string): URL {
  return new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(proxy) ? proxy : `http://${proxy}`);
}

function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  const v4 = parseIPv4(host);
  if (v4 !== undefined) return v4[0] === 127;
  const v6 = parseIPv6(host);
  if (v6 === undefined) return false;
  // ::1, or ::ffff:127.x.y.z
  const isOne = v6.slice(0, 15).every((b) => b === 0) && v6[15] === 1;
  const mapped = v6.slice(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff;
  return isOne || (mapped && v6[12] === 127);
}

/** Go's NO_PROXY matching for `host` (lower case, no brackets) and `port`. */
function noProxy(list: string, host: string, port: string): boolean {
  const ip = parseIPv4(host) ?? parseIPv6(host);
  for (let entry of list.split(",").map((e) => e.trim().toLowerCase())) {
    if (entry === "") continue;
    if (entry === "*") return true;
    if (entry.includes("/")) {
      if (ip !== undefined && inCidr(ip, entry)) return true;
      continue;
    }
    let entryPort: string | undefined;
    const hostPort = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(entry);
    if (hostPort) {
      entry = hostPort[1]!;
      entryPort = hostPort[2];
    }
    entry = entry.replace(/^\[|\]$/g, "");
    if (entryPort !== undefined && entryPort !== port) continue;
    const entryIp = parseIPv4(entry) ?? parseIPv6(entry);
    if (entryIp !== undefined) {
      if (
        ip !== undefined && entryIp.length === ip.length && entryIp.every((b, i) => b === ip[i])
      ) {
        return true;
      }
      continue;
    }
    if (entry.startsWith("*.")) entry = entry.slice(1);
    if (entry.startsWith(".")) {
      if (host.endsWith(entry)) return true;
    } else if (host === entry || host.endsWith(`.${entry}`)) return true;
  }
  return false;
}

function inCidr(ip: number[], cidr: string): boolean {
  const [base = "", bitsText = ""] = cidr.split("/");
  const net = parseIPv4(base) ?? parseIPv6(base.replace(/^\[|\]$/g, ""));
  const bits = Number(bitsText);
  if (net === undefined || net.length !== ip.length || !Number.isInteger(bits)) return false;
  for (let i = 0; i < net.length; i++) {
    const take = Math.max(0, Math.min(8, bits - i * 8));
    const mask = take === 0 ? 0 : (0xff << (8 - take)) & 0xff;
    if ((net[i]! & mask) !== (ip[i]! & mask)) return false;
  }
  return true;
}

function parseIPv4(text: string): number[] | undefined {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) {
    return undefined;
  }
  return parts.map(Number);
}

function parseIPv6(text: string): number[] | undefined {
  if (!text.includes(":")) return undefined;
  try {
    // The URL parser normalises an IPv6 literal (`::1` → `[::1]`, v4 tails to hex).
    const normal = new URL(`http://[${text}]/`).hostname.slice(1, -1);
    const [head = "", tail] = normal.split("::");
    const groups = (part: string) => part === "" ? [] : part.split(":");
    const front = groups(head);
    const back = tail === undefined ? [] : groups(tail);
    const all = [...front, ...Array(8 - front.length - back.length).fill("0"), ...back];
    return all.flatMap((g) => {
      const value = parseInt(g, 16);
      return [value >> 8, value & 0xff];
    });
  } catch {
    return undefined;
  }
}

const PROXY_VARIABLES = ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"].flatMap((name) => [
  name,
  name.toLowerCase(),
]);

/**
 * Runs `create` (Deno.createHttpClient, which reads the proxy variables when
 * it is called) with the proxy variables out of the environment, so the client
 * connects directly; puts them back before returning. Synchronous, so no other
 * code of ours sees the environment without them; exec plugins, spawned later,
 * still get them.
 */
export function withoutProxyEnvironment<T>(create: () => T): T {
  const saved = new Map<string, string>();
  for (const name of PROXY_VARIABLES) {
    const value = Deno.env.get(name);
    if (value !== undefined) {
      saved.set(name, value);
      Deno.env.delete(name);
    }
  }
  try {
    return create();
  } finally {
    for (const [name, value] of saved) Deno.env.set(name, value);
  }
}
