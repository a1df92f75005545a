/**
 * TLS to a Docker daemon on tcp, the way the docker CLI does it (minikube's
 * `docker-env`, docker-machine): the daemon's CA and a client certificate
 * from `DOCKER_CERT_PATH` (default `$DOCKER_CONFIG`, else `~/.docker`) as
 * `ca.pem`, `cert.pem` and `key.pem`. The daemon's certificate is always
 * verified: Deno's fetch can only skip verification for the whole process
 * (the `--unsafely-ignore-certificate-errors` runtime flag), so `DOCKER_TLS`
 * without `DOCKER_TLS_VERIFY` is refused where the host is resolved.
 *
 * Every fault here is one line naming the file or the handshake step and the
 * fix: a missing or unreadable file is a bad setting (usage), a refused
 * handshake is an engine fault.
 */
import { ExitCode, UserError } from "../util/errors.ts";

/** Where the certificates are; paths only, read when a client is made. */
export interface DockerTlsFiles {
  /** The directory, as resolved. */
  readonly certPath: string;
  /** How the directory was chosen, for messages: `DOCKER_CERT_PATH "…"` or `~/.docker`. */
  readonly origin: string;
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

const FIX = "DOCKER_CERT_PATH must name the directory with the daemon's ca.pem and the " +
  "client's cert.pem and key.pem (minikube: eval $(minikube docker-env))";

/**
 * The certificate files, following the docker CLI: `DOCKER_CERT_PATH` when
 * set, else the docker config directory (`DOCKER_CONFIG`, else `~/.docker`).
 */
export function dockerTlsFiles(getEnv: (name: string) => string | undefined): DockerTlsFiles {
  const nonEmpty = (name: string) => {
    const value = getEnv(name);
    return value === undefined || value === "" ? undefined : value;
  };
  let certPath: string;
  let origin: string;
  const explicit = nonEmpty("DOCKER_CERT_PATH");
  const config = nonEmpty("DOCKER_CONFIG");
  const home = nonEmpty("HOME");
  if (explicit !== undefined) {
    certPath = explicit;
    origin = `DOCKER_CERT_PATH "${explicit}"`;
  } else if (config !== undefined) {
    certPath = config;
    origin = `DOCKER_CONFIG "${config}", as DOCKER_CERT_PATH is not set`;
  } else if (home !== undefined) {
    certPath = `${home}/.docker`;
    origin = "~/.docker, as DOCKER_CERT_PATH is not set";
  } else {
    throw new UserError(
      `Docker TLS is on, but neither DOCKER_CERT_PATH nor HOME is set; ${FIX}`,
      ExitCode.usage,
    );
  }
  const base = certPath.replace(/\/+$/, "") || "/";
  const file = (name: string) => (base === "/" ? `/${name}` : `${base}/${name}`);
  return { certPath, origin, ca: file("ca.pem"), cert: file("cert.pem"), key: file("key.pem") };
}

/** A read file: its text, or why it could not be read. */
type Read = { text: string } | { missing: true } | { error: string };

function readPem(path: string, readFile: (path: string) => string): Read {
  try {
    return { text: readFile(path) };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { missing: true };
    if (error instanceof Deno.errors.PermissionDenied) return { error: "permission denied" };
    if (error instanceof Deno.errors.IsADirectory) return { error: "it is a directory" };
    if (error instanceof Deno.errors.NotCapable) {
      return { error: "Deno permissions do not allow it; run with --allow-all" };
    }
    return { error: message(error) };
  }
}

/** An HTTP client for a TLS daemon, and whether it presents a client certificate. */
export interface TlsHttpClient {
  readonly http: Deno.HttpClient;
  readonly clientCertificate: boolean;
}

/**
 * Reads the certificates and makes the client. `ca.pem` is required; `cert.pem`
 * and `key.pem` go together, and without both no client certificate is sent
 * (as with the docker CLI: a daemon without `--tlsverify` needs none).
 */
export function tlsHttpClient(
  files: DockerTlsFiles,
  readFile: (path: string) => string = Deno.readTextFileSync,
): TlsHttpClient {
  const bad = (why: string) => new UserError(`${why}; ${FIX}`, ExitCode.usage);
  const unreadable = (what: string, path: string, why: string, verb = "read") =>
    bad(`Cannot ${verb} the Docker ${what} "${path}" (from ${files.origin}): ${why}`);
  const unusable = (what: string, path: string, why: string, error: unknown) => {
    const detail = message(error).replace(/^invalid peer certificate: /, "");
    return unreadable(what, path, `${why} (${detail})`, "use");
  };

  const ca = readPem(files.ca, readFile);
  if ("missing" in ca) throw unreadable("CA certificate", files.ca, "no such file");
  if ("error" in ca) throw unreadable("CA certificate", files.ca, ca.error);
  // Deno ignores a CA file without a certificate in it and fails later with a
  // puzzling "UnknownIssuer"; an empty or foreign file is better named now.
  if (!/-----BEGIN CERTIFICATE-----/.test(ca.text)) {
    throw unreadable("CA certificate", files.ca, "not a PEM certificate");
  }
  // Deno's parse errors do not say which file they are about: the CA alone
  // first, so that a later error can only be the client's pair.
  let http: Deno.HttpClient;
  try {
    http = Deno.createHttpClient({ caCerts: [ca.text] });
  } catch (error) {
    throw unusable("CA certificate", files.ca, "not a valid PEM certificate", error);
  }

  const cert = readPem(files.cert, readFile);
  const key = readPem(files.key, readFile);
  const noPair = "missing" in cert && "missing" in key;
  if (noPair) return { http, clientCertificate: false };
  http.close();
  if ("error" in cert) throw unreadable("client certificate", files.cert, cert.error);
  if ("error" in key) throw unreadable("client key", files.key, key.error);
  if ("missing" in cert || "missing" in key) {
    const [present, absent] = "missing" in cert ? [files.key, files.cert] : [files.cert, files.key];
    throw bad(`Found "${present}" but not "${absent}": a client certificate needs both`);
  }
  try {
    http = Deno.createHttpClient({ caCerts: [ca.text], cert: cert.text, key: key.text });
  } catch (error) {
    const text = message(error);
    if (/KeyMismatch|not be consistent/i.test(text)) {
      throw bad(
        `The Docker client certificate "${files.cert}" and key "${files.key}" do not match`,
      );
    }
    if (/key/i.test(text)) {
      throw unusable("client key", files.key, "not a valid PEM private key", error);
    }
    throw unusable("client certificate", files.cert, "not a valid PEM certificate", error);
  }
  return { http, clientCertificate: true };
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Why a TLS connection failed, in words, from the text of Deno's fetch error
 * (rustls' messages); undefined when it was no TLS fault.
 */
export function tlsFailure(
  files: DockerTlsFiles,
  hostname: string,
  clientCertificate: boolean,
  text: string,
): string | undefined {
  const failed = "TLS handshake failed: ";
  if (/invalid peer certificate: UnknownIssuer/i.test(text)) {
    return `${failed}the daemon's certificate is not signed by the CA in "${files.ca}"; ` +
      "DOCKER_CERT_PATH may belong to another daemon (minikube: eval $(minikube docker-env) again)";
  }
  const wrongName = /invalid peer certificate: certificate not valid for name[^;]*(?:; ([^/]*))?/i
    .exec(text);
  if (wrongName !== null) {
    const valid = wrongName[1] === undefined ? "" : ` (${wrongName[1].trim()})`;
    return `${failed}the daemon's certificate is not valid for "${hostname}"${valid}; ` +
      "connect with a name or address it lists";
  }
  const invalid = /invalid peer certificate: ([A-Za-z]+)/i.exec(text);
  if (invalid !== null) {
    const why = invalid[1] === "Expired" ? "has expired" : `is not acceptable (${invalid[1]})`;
    return `${failed}the daemon's certificate ${why}`;
  }
  const alert = /received fatal alert: ([A-Za-z]+)/i.exec(text);
  if (alert !== null) {
    return clientCertificate
      ? `${failed}the daemon refused the client certificate "${files.cert}" (${alert[1]}); ` +
        "use the cert.pem and key.pem issued for this daemon (minikube: eval $(minikube " +
        "docker-env) again)"
      : `${failed}the daemon asks for a client certificate (${alert[1]}), and there is no ` +
        `cert.pem and key.pem in "${files.certPath}"; ${FIX}`;
  }
  if (/InvalidContentType|corrupt message/i.test(text)) {
    return `${failed}no TLS on this port; use the daemon's TLS port (usually 2376), or unset ` +
      "DOCKER_TLS_VERIFY for a daemon without TLS";
  }
  return undefined;
}
