/**
 * The operating system's trust store, for a cluster whose kubeconfig names no
 * CA. Its own module: node:tls is loaded only then.
 */
import tls from "node:tls";

/** The store's certificates as PEM (SSL_CERT_FILE honoured, as openssl and Go do); [] if unreadable. */
export function systemRoots(): string[] {
  try {
    return (tls as unknown as { getCACertificates(kind: string): string[] })
      .getCACertificates("system");
  } catch {
    return [];
  }
}
