/**
 * The credentials the docker CLI would use for a registry host, read the way
 * it reads them: its config file (`$DOCKER_CONFIG/config.json`, else
 * `~/.docker/config.json`), where `credHelpers[host]` wins over `credsStore`,
 * which wins over the file's own `auths`. A helper is the program
 * `docker-credential-<name>`, asked with `get` and the host on stdin.
 *
 * Every answer says where it came from, so that a 401 can name the source
 * the user has to fix.
 */

/** A user name and password (or token) for basic auth, and where they came from. */
export interface RegistryCredentials {
  readonly username: string;
  readonly password: string;
}

/** What was found for a host: credentials or none, and a phrase naming the source. */
export interface CredentialLookup {
  readonly credentials: RegistryCredentials | undefined;
  /** `auths["localhost:5001"] in /root/.docker/config.json`, `no entry for … in …`. */
  readonly source: string;
}

/** Runs a credential helper: `docker-credential-<name> get` with `host` on stdin. */
export type HelperRunner = (program: string, host: string) => Promise<string>;

export interface CredentialOptions {
  readonly env: (name: string) => string | undefined;
  /** Replaced in unit tests; runs the real program otherwise. */
  readonly runHelper?: HelperRunner;
}

/** The docker CLI's config file path for this environment. */
export function dockerConfigPath(env: (name: string) => string | undefined): string {
  const dir = env("DOCKER_CONFIG");
  if (dir !== undefined && dir !== "") return `${dir}/config.json`;
  return `${env("HOME") ?? ""}/.docker/config.json`;
}

/** The host part of an `auths` key: `https://host/v1/` and `host` both give `host`. */
export function authsKeyHost(key: string): string {
  let host = key.replace(/^[a-z]+:\/\//i, "");
  const slash = host.indexOf("/");
  if (slash >= 0) host = host.slice(0, slash);
  return host.toLowerCase();
}

/** The credentials for `host` (`localhost:5001`, `registry.example.com`). */
export async function lookupCredentials(
  host: string,
  options: CredentialOptions,
): Promise<CredentialLookup> {
  const path = dockerConfigPath(options.env);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return { credentials: undefined, source: `no docker config at ${path}` };
    }
    throw new Error(`cannot read the docker config ${path}: ${(error as Error).message}`);
  }
  let config: Record<string, unknown>;
  try {
    const parsed = JSON.parse(text);
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error();
    config = parsed;
  } catch {
    throw new Error(`the docker config ${path} is not a JSON object; fix or remove it`);
  }
  const wanted = host.toLowerCase();
  const helpers = objectField(config.credHelpers);
  const helper = Object.entries(helpers).find(([key]) => authsKeyHost(key) === wanted)?.[1];
  if (typeof helper === "string" && helper !== "") {
    return await fromHelper(helper, host, `credHelpers in ${path}`, options);
  }
  if (typeof config.credsStore === "string" && config.credsStore !== "") {
    return await fromHelper(config.credsStore, host, `credsStore in ${path}`, options);
  }
  const auths = objectField(config.auths);
  const entry = Object.entries(auths).find(([key]) => authsKeyHost(key) === wanted);
  if (entry === undefined) {
    return { credentials: undefined, source: `no auths entry for ${host} in ${path}` };
  }
  const source = `auths[${JSON.stringify(entry[0])}] in ${path}`;
  return { credentials: fromAuthsEntry(objectField(entry[1]), source), source };
}

function fromAuthsEntry(
  entry: Record<string, unknown>,
  source: string,
): RegistryCredentials | undefined {
  if (typeof entry.auth === "string" && entry.auth !== "") {
    let decoded: string;
    try {
      decoded = new TextDecoder().decode(Uint8Array.from(atob(entry.auth), (c) => c.charCodeAt(0)));
    } catch {
      throw new Error(`${source}: "auth" is not base64; run docker login again`);
    }
    const colon = decoded.indexOf(":");
    if (colon < 0) {
      throw new Error(`${source}: "auth" is not user:password; run docker login again`);
    }
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (typeof entry.username === "string" && typeof entry.password === "string") {
    return { username: entry.username, password: entry.password };
  }
  return undefined;
}

async function fromHelper(
  name: string,
  host: string,
  where: string,
  options: CredentialOptions,
): Promise<CredentialLookup> {
  const program = `docker-credential-${name}`;
  const source = `${program} (${where})`;
  const output = await (options.runHelper ?? runHelper)(program, host);
  if (output === "") return { credentials: undefined, source: `${source}, which has none` };
  let answer: Record<string, unknown>;
  try {
    answer = objectField(JSON.parse(output));
  } catch {
    throw new Error(`${source} answered something that is not JSON`);
  }
  const { Username: username, Secret: password } = answer;
  if (typeof username !== "string" || typeof password !== "string") {
    return { credentials: undefined, source: `${source}, which has none` };
  }
  return { credentials: { username, password }, source };
}

/** Runs the helper; "" when it has no credentials for the host (its own "not found"). */
async function runHelper(program: string, host: string): Promise<string> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(program, {
      args: ["get"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(`${program} is not on PATH; install it or change the docker config`);
    }
    throw error;
  }
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(host));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const out = new TextDecoder().decode(stdout).trim();
  if (code === 0) return out;
  const message = (out || new TextDecoder().decode(stderr)).trim();
  if (/credentials not found/i.test(message)) return "";
  throw new Error(`${program} get failed: ${message.split("\n")[0]}`);
}

function objectField(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Record<string, unknown>
    : {};
}
