/**
 * The one error type for faults a user can cause or fix: a bad flag, an
 * unreachable socket, a missing kubeconfig. It carries a one-line message that
 * names the cause and the fix, and the exit code the command line ends with.
 * Anything else that reaches the top is a bug and is reported as such.
 */

/** Exit codes, documented in README.md ("Exit codes"). */
export const ExitCode = {
  ok: 0,
  /** An unexpected internal error (a bug). */
  internal: 1,
  /** Bad command-line usage: unknown flag, bad value. */
  usage: 2,
  /** The container engine cannot be reached or refused us. */
  engine: 3,
  /** Kubernetes configuration missing or the cluster unreachable. */
  kubernetes: 4,
  /** Kubernetes refused an operation for lack of permission. */
  forbidden: 5,
} as const;

export type ExitCode = typeof ExitCode[keyof typeof ExitCode];

/** A fault with a one-line, user-facing explanation and an exit code. */
export class UserError extends Error {
  readonly exitCode: ExitCode;

  constructor(message: string, exitCode: ExitCode, options?: ErrorOptions) {
    super(message, options);
    this.name = "UserError";
    this.exitCode = exitCode;
  }
}

/** The message of any thrown value, for log lines and error chains. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** The chain of causes below an error, one message each, for verbose output. */
export function causeChain(error: unknown): string[] {
  const chain: string[] = [];
  let current = error instanceof Error ? error.cause : undefined;
  while (current !== undefined && chain.length < 10) {
    chain.push(errorMessage(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  return chain;
}
