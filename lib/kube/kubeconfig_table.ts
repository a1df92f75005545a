/**
 * Every kubeconfig field and environment variable `run` reads, what it does
 * with each, and which test proves it: one table that `deno task docs`
 * writes into README.md (scripts/docs.ts). scripts/docs_test.ts fails when
 * the README differs, when a field config.ts or config_user.ts reads is
 * missing here, or when
 * a named test does not exist.
 */

/** A test, by file (from the repository's root) and the start of its name. */
export interface TestRef {
  readonly file: string;
  readonly name: string;
}

/** One row of the compatibility table. */
export interface KubeconfigRow {
  /** Where it lives: `cluster`, `user`, `user.exec`, `context`, `file`, `env`. */
  readonly where: string;
  /** The field(s) or variable(s), as the kubeconfig spells them. */
  readonly fields: readonly string[];
  /** What `run` does with it; where it differs from kubectl, the row says so. */
  readonly handling: string;
  readonly tests: readonly TestRef[];
}

const config = (name: string): TestRef => ({ file: "lib/kube/config_test.ts", name });
const rest = (name: string): TestRef => ({ file: "lib/kube/rest_test.ts", name });
const auth = (name: string): TestRef => ({ file: "lib/kube/auth_test.ts", name });
const proxy = (name: string): TestRef => ({ file: "lib/kube/proxy_test.ts", name });
const trust = (name: string): TestRef => ({ file: "lib/kube/trust_test.ts", name });

const REFUSALS = config("loadKubeConfig() refuses in one line what kubectl refuses");
const EXEC_INFO = auth("Exec plugins get interactive as interactiveMode");

/** The table, in the order the README shows it. */
export const KUBECONFIG_TABLE: readonly KubeconfigRow[] = [
  {
    where: "file",
    fields: ["KUBECONFIG", "--kubeconfig", "~/.kube/config"],
    handling:
      "--kubeconfig, else the files of $KUBECONFIG merged as kubectl merges them (the first " +
      "to set a name or the current context wins; missing, empty and comment-only files skipped), " +
      "else ~/.kube/config; nothing left: the in-cluster service account",
    tests: [
      config("loadKubeConfig() merges KUBECONFIG's files as kubectl does"),
      config("loadKubeConfig() skips empty and comment-only files of KUBECONFIG"),
      config("loadKubeConfig() tries the in-cluster account when KUBECONFIG's files are missing"),
    ],
  },
  {
    where: "file",
    fields: ["current-context", "--context"],
    handling: "the context used; an unknown one is named in one line with the known ones; a name " +
      "given twice in one file is refused, as kubectl refuses it",
    tests: [config("loadKubeConfig() rejects an unknown --context"), REFUSALS],
  },
  {
    where: "env",
    fields: ["KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"],
    handling: "in-cluster: the service's address, the mounted token (read again as it rotates) " +
      "and CA",
    tests: [config("loadKubeConfig() falls back to the in-cluster service account")],
  },
  {
    where: "context",
    fields: ["cluster", "user", "namespace"],
    handling: "as kubectl; a context naming a cluster that is not defined is one line",
    tests: [
      config("loadKubeConfig() reads certificate files relative to the kubeconfig's directory"),
      config("loadKubeConfig() names what is wrong in a kubeconfig's content"),
    ],
  },
  {
    where: "cluster",
    fields: ["server"],
    handling: "an http(s) URL; anything else is one line naming the file",
    tests: [config("loadKubeConfig() names what is wrong in a kubeconfig's content")],
  },
  {
    where: "cluster",
    fields: ["certificate-authority", "certificate-authority-data"],
    handling: "verifies the server; the file is relative to the kubeconfig and read again every " +
      "minute; both set is refused. Differs: on Deno's fetch the CA is added to the bundled " +
      "public roots (kubectl trusts it alone; exact on the node:https path)",
    tests: [
      rest("KubeClient verifies the server with the cluster's CA"),
      config("loadKubeConfig() reads certificate files relative to the kubeconfig's directory"),
      trust("A rotated CA file is read again"),
      REFUSALS,
    ],
  },
  {
    where: "cluster",
    fields: ["(no CA)", "SSL_CERT_FILE"],
    handling: "the operating system's trust store (private and corporate CAs, TLS-inspecting " +
      "proxies), plus the bundled public roots",
    tests: [
      trust("With no CA in the kubeconfig, the operating system's trust store"),
      trust("The real trust store is the system's"),
    ],
  },
  {
    where: "cluster",
    fields: ["(self-signed server certificate as CA)"],
    handling: "accepted, CA:TRUE included, as kubectl accepts it (through node:https)",
    tests: [trust("A self-signed server certificate with CA:TRUE")],
  },
  {
    where: "cluster",
    fields: ["insecure-skip-tls-verify"],
    handling: "no certificate check (through node:https); `yes` and `on` are true (YAML 1.1)",
    tests: [
      rest("KubeClient verifies the server with the cluster's CA, skips it only when told"),
      config("loadKubeConfig() reads the fields kubectl reads"),
    ],
  },
  {
    where: "cluster",
    fields: ["tls-server-name"],
    handling: "the name the certificate is checked against (through node:https)",
    tests: [rest("KubeClient verifies the server with the cluster's CA, skips it only when told")],
  },
  {
    where: "cluster",
    fields: ["proxy-url"],
    handling: "http proxies (tested, on both transports); https and socks5 ones are handed to " +
      "Deno's fetch as its proxy transports (not tested here); with insecure-skip-tls-verify, " +
      "tls-server-name or a self-signed server certificate, http proxies only (one line otherwise)",
    tests: [proxy("KubeClient goes through proxies as kubectl does")],
  },
  {
    where: "env",
    fields: ["HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "REQUEST_METHOD"],
    handling: "as Go reads them: never for localhost or a loopback address; NO_PROXY with names, " +
      ".suffixes, *, IPs, CIDRs and ports; on both transports",
    tests: [
      proxy("proxyFor() chooses the proxy as client-go does"),
      proxy("KubeClient goes through proxies as kubectl does"),
    ],
  },
  {
    where: "env",
    fields: ["ALL_PROXY"],
    handling: "not read (Go does not; Deno's fetch would)",
    tests: [proxy("KubeClient goes through proxies as kubectl does")],
  },
  {
    where: "cluster",
    fields: ["disable-compression"],
    handling: "answers asked for uncompressed (Accept-Encoding: identity)",
    tests: [auth("KubeClient sends as-groups, as-uid and as-user-extra, and honours")],
  },
  {
    where: "cluster",
    fields: ["extensions: client.authentication.k8s.io/exec"],
    handling: "passed to exec plugins as the cluster's `config`",
    tests: [EXEC_INFO],
  },
  {
    where: "user",
    fields: ["token", "tokenFile"],
    handling: "bearer token; tokenFile wins over token and is read again every minute and after " +
      "a 401; together with username/password refused",
    tests: [
      rest("KubeClient sends JSON requests with the token"),
      auth("authenticator() takes tokenFile over token"),
      rest("KubeClient reads a token file again when the server refuses"),
      REFUSALS,
    ],
  },
  {
    where: "user",
    fields: [
      "client-certificate",
      "client-certificate-data",
      "client-key",
      "client-key-data",
    ],
    handling: "the TLS client identity; files read again every minute and after a 401; a file " +
      "and its -data together refused",
    tests: [
      rest("KubeClient presents the kubeconfig's client certificate"),
      auth("authenticator() reads rotated client certificate and key files"),
      REFUSALS,
    ],
  },
  {
    where: "user",
    fields: ["username", "password"],
    handling: "basic auth",
    tests: [auth("authenticator() does not run the exec plugin")],
  },
  {
    where: "user",
    fields: ["as", "as-groups", "as-uid", "as-user-extra"],
    handling: "the Impersonate-User, -Group, -Uid and -Extra-* headers",
    tests: [
      auth("KubeClient sends as-groups, as-uid and as-user-extra"),
      config("loadKubeConfig() reads the fields kubectl reads"),
    ],
  },
  {
    where: "user",
    fields: ["auth-provider"],
    handling: "oidc, gcp, azure through @kubernetes/client-node, loaded only then; together with " +
      "exec refused",
    tests: [rest("KubeClient takes an auth-provider's Authorization header"), REFUSALS],
  },
  {
    where: "user.exec",
    fields: ["apiVersion", "command", "args", "env"],
    handling: "client.authentication.k8s.io v1 and v1beta1; run only when the user has no token, " +
      "basic auth or client certificate; the credential kept until it expires, renewed after a 401",
    tests: [
      rest("KubeClient runs an exec plugin"),
      rest("KubeClient uses a client certificate from a v1beta1 exec plugin"),
      auth("authenticator() does not run the exec plugin"),
    ],
  },
  {
    where: "user.exec",
    fields: ["interactiveMode"],
    handling: "Never, IfAvailable (v1beta1's default), Always (refused without a terminal; v1 " +
      "requires the field); on a terminal the plugin gets stdin and interactive: true; its " +
      "stderr is always ours; its run time is not counted against the start check",
    tests: [
      EXEC_INFO,
      auth("An interactive exec plugin reads our stdin and writes to our stderr"),
      auth("checkCluster() does not count a slow login"),
      REFUSALS,
    ],
  },
  {
    where: "user.exec",
    fields: ["provideClusterInfo"],
    handling: "KUBERNETES_EXEC_INFO carries the cluster: server, CA, tls-server-name, " +
      "insecure-skip-tls-verify, proxy-url, disable-compression, config",
    tests: [EXEC_INFO],
  },
  {
    where: "user.exec",
    fields: ["installHint"],
    handling: "the fix named when the plugin cannot be run",
    tests: [rest("KubeClient explains a failing or missing exec plugin")],
  },
];

/** The table as Markdown, one row per entry, its tests as `file`: name. */
export function kubeconfigMarkdown(table: readonly KubeconfigRow[] = KUBECONFIG_TABLE): string {
  const escape = (text: string) => text.replaceAll("|", "\\|");
  const lines = [
    "| where | field or variable | what `run` does | proved by |",
    "| --- | --- | --- | --- |",
  ];
  for (const row of table) {
    const fields = row.fields.map((f) => f.startsWith("(") ? f : `\`${f}\``).join(", ");
    const tests = row.tests.map((t) => `${t.file.split("/").at(-1)}: ${t.name}`).join("; ");
    lines.push(`| ${row.where} | ${escape(fields)} | ${escape(row.handling)} | ${escape(tests)} |`);
  }
  return lines.join("\n");
}
