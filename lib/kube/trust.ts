/**
 * Which certificates a client trusts, as close to kubectl as Deno allows:
 * with no CA in the kubeconfig, the operating system's trust store (private
 * and corporate CAs, TLS-inspecting proxies); with one, that CA. And whether
 * the kubeconfig's CA is the server's own self-signed certificate (openssl's
 * default `CA:TRUE`), which Go accepts and rustls (Deno's fetch) refuses as
 * "CaUsedAsEndEntity". The system's store itself is read by system_roots.ts,
 * loaded only for a cluster without a CA. See docs/decisions.md for what
 * fetch cannot do.
 */
import { X509Certificate } from "node:crypto";

/** The certificates of a PEM bundle, each as its own PEM block. */
export function pemBlocks(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

/**
 * True when the CA bundle holds a CA certificate that names `server`'s host
 * itself: a self-signed server certificate given as its own CA.
 */
export function isSelfSignedServer(caPem: string | undefined, server: string): boolean {
  if (caPem === undefined) return false;
  const host = new URL(server).hostname.replace(/^\[|\]$/g, "");
  const isIp = /^[\d.]+$/.test(host) || host.includes(":");
  return pemBlocks(caPem).some((pem) => {
    try {
      const cert = new X509Certificate(pem);
      if (!cert.ca) return false;
      return isIp ? cert.checkIP(host) !== undefined : cert.checkHost(host) !== undefined;
    } catch {
      return false;
    }
  });
}
