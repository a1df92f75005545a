/**
 * Makes sense of errors from the API server: the HTTP status of an API error
 * (`code`: rest.ts's KubeApiError, and client-node's ApiException for
 * `install`), the server's own message, and one-line explanations for the
 * faults a user can fix.
 */
import { ExitCode, UserError } from "../util/errors.ts";

/** The HTTP status of a Kubernetes API error, or undefined for network errors. */
export function apiStatus(error: unknown): number | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === "number" ? code : undefined;
}

/** The API server's message from an error's Status body, else the error's first line. */
export function apiMessage(error: unknown): string {
  if (typeof error === "object" && error !== null && "body" in error) {
    let body = (error as { body: unknown }).body;
    if (typeof body === "string") {
      try {
        body = JSON.parse(body);
      } catch {
        // a non-JSON body: fall through to the error message
      }
    }
    const message = (body as { message?: unknown } | null)?.message;
    if (typeof message === "string" && message) return message;
  }
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0] ?? text;
}

/** True when retrying later may succeed: conflicts, throttling, server errors, network faults. */
export function isRetryable(error: unknown): boolean {
  const status = apiStatus(error);
  return status === undefined || status === 409 || status === 429 || status >= 500;
}

/** What was attempted, for messages: `patch deployments.apps in namespace "dev"`. */
export interface Attempt {
  readonly verb: string;
  readonly resource: string;
  readonly namespace?: string | undefined;
}

/** `cannot patch deployments.apps in namespace "dev"`. */
export function describeAttempt(attempt: Attempt): string {
  const where = attempt.namespace === undefined
    ? "at cluster scope"
    : `in namespace "${attempt.namespace}"`;
  return `${attempt.verb} ${attempt.resource} ${where}`;
}

/** The one-line message for a 403. */
export function forbiddenMessage(attempt: Attempt): string {
  return `Kubernetes refused to ${describeAttempt(attempt)} (403 Forbidden): ` +
    `grant the verb "${attempt.verb}" on "${attempt.resource}" to veryfreshpod's user or ` +
    `service account`;
}

/**
 * Turns an error from talking to the API server into a UserError where the
 * user can fix something (unreachable, unauthorised, forbidden); returns other
 * errors unchanged.
 */
export function explainKubeError(error: unknown, server: string, attempt: Attempt): unknown {
  if (error instanceof UserError) return error;
  const status = apiStatus(error);
  if (status === 401) {
    return new UserError(
      `The Kubernetes API server at ${server} rejected the credentials (401 Unauthorized): ` +
        "refresh the kubeconfig or pick another --context",
      ExitCode.kubernetes,
      { cause: error },
    );
  }
  if (status === 403) {
    return new UserError(forbiddenMessage(attempt), ExitCode.forbidden, { cause: error });
  }
  if (status === undefined) {
    return new UserError(
      `Cannot reach the Kubernetes API server at ${server}: ${networkDetail(error)}; ` +
        "check that the cluster is running and that --kubeconfig and --context point at it",
      ExitCode.kubernetes,
      { cause: error },
    );
  }
  return error;
}

/** A short reason for a network error: `connection refused`, `certificate…`. */
export function networkDetail(error: unknown): string {
  const code = (error as { code?: unknown; cause?: { code?: unknown } } | null)?.code ??
    (error as { cause?: { code?: unknown } } | null)?.cause?.code;
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "host not found";
    case "ETIMEDOUT":
      return "timed out";
    case "ECONNRESET":
      return "connection reset";
    default:
      return apiMessage(error);
  }
}
