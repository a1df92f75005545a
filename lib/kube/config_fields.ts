/**
 * Reading single fields of a kubeconfig as kubectl reads them: strings,
 * YAML 1.1 booleans (`yes`, `on`: kubectl's YAML library is YAML 1.1, js-yaml
 * is 1.2), and the PEM material given inline (`<field>-data`, base64) or as a
 * file relative to the kubeconfig's directory.
 */
import { ExitCode, UserError } from "../util/errors.ts";

/** A non-empty string field, else undefined. */
export function stringField(record: Record<string, unknown>, key: string): string | undefined {
  const value = record[key];
  return typeof value === "string" && value !== "" ? value : undefined;
}

const YAML11_TRUE = new Set(["y", "yes", "true", "on"]);

/** A boolean as go-yaml (YAML 1.1) reads it: `true`, and `yes`/`on`/`y` in any case. */
export function booleanField(record: Record<string, unknown>, key: string): boolean {
  const value = record[key];
  if (typeof value === "boolean") return value;
  return typeof value === "string" && YAML11_TRUE.has(value.toLowerCase());
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function dirname(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
}

export function resolvePath(dir: string, path: string): string {
  return path.startsWith("/") ? path : `${dir}/${path}`;
}

export function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0] ?? "";
}

export function loadError(file: string, detail: string, cause?: unknown): UserError {
  return new UserError(
    `Cannot load kubeconfig "${file}": ${detail}`,
    ExitCode.kubernetes,
    cause === undefined ? undefined : { cause },
  );
}

export function readProblem(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.IsADirectory) return "it is a directory";
  return firstLine(error);
}

/** PEM material: its text now, and the file to read again when it came from one. */
export interface Pem {
  readonly pem: string | undefined;
  readonly file: string | undefined;
}

/**
 * The PEM text of `<field>-data` (base64) or the file `<field>` names;
 * both set is refused, as kubectl refuses it.
 */
export function pemOf(
  file: string,
  where: string,
  body: Record<string, unknown>,
  field: string,
  dir: string,
): Pem {
  const data = stringField(body, `${field}-data`);
  const path = stringField(body, field);
  if (data !== undefined && path !== undefined) {
    throw loadError(
      file,
      `${where} sets both ${field}-data and ${field}; keep one (kubectl refuses both)`,
    );
  }
  if (data !== undefined) {
    try {
      const pem = new TextDecoder().decode(Uint8Array.from(atob(data), (c) => c.charCodeAt(0)));
      return { pem, file: undefined };
    } catch {
      throw loadError(
        file,
        `${where} has a ${field}-data that is not base64; fix or replace the file`,
      );
    }
  }
  if (path === undefined) return { pem: undefined, file: undefined };
  const resolved = resolvePath(dir, path);
  try {
    return { pem: Deno.readTextFileSync(resolved), file: resolved };
  } catch (error) {
    throw loadError(
      file,
      `cannot read the ${field} "${resolved}" of ${where} (${readProblem(error)}); fix the path`,
      error,
    );
  }
}
