/**
 * A file that is read again while running, as client-go reads token,
 * certificate and CA files: service-account tokens and cert-manager's
 * certificates rotate under a long-running process.
 */

/** A file is read again at most this often (client-go: every minute), and on demand. */
export const FILE_TTL_MS = 60_000;

/** The file's current text: read again once `ttlMs` passed; the last good text when it can't be. */
export class RotatingFile {
  readonly #path: string;
  readonly #now: () => number;
  readonly #ttlMs: number;
  #text: string;
  #readAt: number;

  /** `text` is what the file held when the kubeconfig was loaded. */
  constructor(path: string, text: string, now: () => number, ttlMs = FILE_TTL_MS) {
    this.#path = path;
    this.#now = now;
    this.#ttlMs = ttlMs;
    this.#text = text;
    this.#readAt = now();
  }

  /** The text, read again when it is older than the TTL or `force` is set. */
  current(force = false): string {
    if (force || this.#now() - this.#readAt >= this.#ttlMs) {
      this.#readAt = this.#now();
      try {
        this.#text = Deno.readTextFileSync(this.#path);
      } catch {
        // Mid-rotation (the file briefly gone): the last text is still the best guess.
      }
    }
    return this.#text;
  }
}

/** A rotating file when `path` is given, else the fixed `text`. */
export function fileOrText(
  path: string | undefined,
  text: string | undefined,
  now: () => number,
): (force?: boolean) => string | undefined {
  if (path === undefined || text === undefined) return () => text;
  const file = new RotatingFile(path, text, now);
  return (force) => file.current(force);
}
