/**
 * What went wrong opening a daemon's unix socket, in the same words for the
 * Docker and the containerd client: each client only says which daemon it
 * is and how to fix a missing socket or a refused permission.
 */

/** The daemon behind a socket, as messages name it. */
export interface SocketDaemon {
  /** The process that should listen there: `dockerd`, `containerd`. */
  readonly process: string;
  /** What to do when the socket file does not exist. */
  readonly whenMissing: string;
  /** What to do when opening it is not allowed. */
  readonly whenDenied: string;
}

// The strerror texts and errno values as Deno's fetch reports them ("… (os error 2)";
// Linux and macOS numbers) and the Node-style codes grpc-js reports ("connect ENOENT …").
const FAULTS: ReadonlyArray<{ pattern: RegExp; why: (daemon: SocketDaemon) => string }> = [
  {
    pattern: /ENOENT|No such file or directory|os error 2\)/i,
    why: (daemon) => `no such file; ${daemon.whenMissing}`,
  },
  {
    pattern: /EACCES|Permission denied|os error 13\)/i,
    why: (daemon) => `permission denied; ${daemon.whenDenied}`,
  },
  {
    pattern: /ECONNREFUSED|Connection refused|os error (111|61)\)/i,
    why: (daemon) =>
      "connection refused; the file is not a socket or no daemon listens on it " +
      `(is ${daemon.process} running?)`,
  },
  {
    pattern: /ETIMEDOUT|timed out|os error (110|60)\)/i,
    why: (daemon) => `timed out; is ${daemon.process} hung?`,
  },
];

/**
 * Why a unix socket could not be used, with the fix, when `errorText` (an
 * error and its causes) names a fault every socket can have; undefined otherwise.
 */
export function socketFault(errorText: string, daemon: SocketDaemon): string | undefined {
  return FAULTS.find((fault) => fault.pattern.test(errorText))?.why(daemon);
}
