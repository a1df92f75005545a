/**
 * A kubeconfig user as kubectl reads it: its credentials (token, token file,
 * client certificate, basic auth, exec plugin, auth-provider), impersonation,
 * and kubectl's refusals of combinations it does not allow, each one line.
 */
import type { Entry, ExecConfig, InteractiveMode, UserConfig } from "./config.ts";
import {
  booleanField,
  dirname,
  isRecord,
  loadError,
  pemOf,
  resolvePath,
  stringField,
} from "./config_fields.ts";

function dir(entry: Entry): string {
  return dirname(entry.file);
}

/** The user of `entry`, its files read; throws a one-line UserError naming what is wrong. */
export function userConfig(entry: Entry): UserConfig {
  const body = entry.body;
  const where = `user "${entry.name}"`;
  const tokenFile = stringField(body, "tokenFile") ?? stringField(body, "token-file");
  const token = stringField(body, "token");
  const username = stringField(body, "username");
  const password = stringField(body, "password");
  const provider = body["auth-provider"];
  // kubectl's validation: one of token and basic auth, and no exec plugin with an auth-provider.
  if ((token !== undefined || tokenFile !== undefined) && (username ?? password) !== undefined) {
    throw loadError(
      entry.file,
      `${where} sets both a token and a username/password; keep one (kubectl refuses both)`,
    );
  }
  if (body.exec !== undefined && body.exec !== null && isRecord(provider)) {
    throw loadError(
      entry.file,
      `${where} sets both exec and auth-provider; keep one (kubectl refuses both)`,
    );
  }
  const cert = pemOf(entry.file, where, body, "client-certificate", dir(entry));
  const key = pemOf(entry.file, where, body, "client-key", dir(entry));
  return {
    name: entry.name,
    token,
    tokenFile: tokenFile === undefined ? undefined : resolvePath(dir(entry), tokenFile),
    certPem: cert.pem,
    keyPem: key.pem,
    certFile: cert.file,
    keyFile: key.file,
    username,
    password,
    exec: execConfig(entry, body.exec),
    impersonate: stringField(body, "as"),
    ...impersonation(entry),
    ...(isRecord(provider) && typeof provider.name === "string"
      ? {
        authProvider: {
          name: provider.name,
          config: isRecord(provider.config) ? provider.config as Record<string, string> : {},
        },
      }
      : {}),
  };
}

/** `as-groups`, `as-uid` and `as-user-extra`. */
function impersonation(entry: Entry): Partial<UserConfig> {
  const body = entry.body;
  const fail = (detail: string) =>
    loadError(entry.file, `user "${entry.name}": ${detail}; fix or replace the file`);
  const strings = (value: unknown) =>
    Array.isArray(value) && value.every((v) => typeof v === "string");
  const groups = body["as-groups"];
  if (groups !== undefined && groups !== null && !strings(groups)) {
    throw fail("as-groups is not a list of strings");
  }
  const extra = body["as-user-extra"];
  if (
    extra !== undefined && extra !== null &&
    !(isRecord(extra) && Object.values(extra).every(strings))
  ) {
    throw fail("as-user-extra is not a mapping of names to lists of strings");
  }
  return {
    impersonateGroups: strings(groups) ? groups as string[] : undefined,
    impersonateUid: stringField(body, "as-uid"),
    impersonateExtra: isRecord(extra) ? extra as Record<string, string[]> : undefined,
  };
}

const INTERACTIVE_MODES = ["Never", "IfAvailable", "Always"] as const;

function execConfig(entry: Entry, exec: unknown): ExecConfig | undefined {
  if (exec === undefined || exec === null) return undefined;
  const fail = (detail: string) =>
    loadError(entry.file, `user "${entry.name}": exec ${detail}; fix or replace the file`);
  if (!isRecord(exec)) throw fail("is not a mapping");
  const command = stringField(exec, "command");
  if (command === undefined) throw fail("has no command");
  const args = exec.args ?? [];
  if (!Array.isArray(args) || !args.every((a) => typeof a === "string")) {
    throw fail("args is not a list of strings");
  }
  const env = exec.env ?? [];
  if (
    !Array.isArray(env) ||
    !env.every((e) => isRecord(e) && typeof e.name === "string" && typeof e.value === "string")
  ) {
    throw fail("env is not a list of name/value pairs");
  }
  const apiVersion = stringField(exec, "apiVersion") ?? "client.authentication.k8s.io/v1";
  const mode = stringField(exec, "interactiveMode");
  if (mode !== undefined && !(INTERACTIVE_MODES as readonly string[]).includes(mode)) {
    throw fail(`interactiveMode "${mode}" is none of ${INTERACTIVE_MODES.join(", ")}`);
  }
  if (mode === undefined && apiVersion === "client.authentication.k8s.io/v1") {
    throw fail("interactiveMode is missing (client.authentication.k8s.io/v1 requires it)");
  }
  return {
    apiVersion,
    // kubectl: a relative path with a separator is relative to the kubeconfig's directory.
    command: command.includes("/") ? resolvePath(dir(entry), command) : command,
    args,
    env: env as { name: string; value: string }[],
    installHint: stringField(exec, "installHint"),
    provideClusterInfo: booleanField(exec, "provideClusterInfo"),
    interactiveMode: (mode ?? "IfAvailable") as InteractiveMode,
  };
}
