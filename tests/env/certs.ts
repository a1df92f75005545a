/**
 * Key material for the test control plane and the test dockerd's TLS
 * listener, made at run time with the openssl CLI: CAs, serving certificates
 * for 127.0.0.1, client certificates, and the service-account signing key pair
 * that the TokenRequest API needs. EC P-256 keys, because
 * they are generated in milliseconds where RSA keys take noticeable time.
 */

import { binary } from "./paths.ts";
import { run } from "./process.ts";

export interface CertificateAuthority {
  readonly certFile: string;
  readonly keyFile: string;
}

export interface KeyPair {
  readonly certFile: string;
  readonly keyFile: string;
}

async function openssl(args: string[]): Promise<void> {
  await run(binary("openssl"), args);
}

async function ecKey(keyFile: string): Promise<void> {
  await openssl([
    "genpkey",
    "-algorithm",
    "EC",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-out",
    keyFile,
  ]);
}

/** A self-signed CA in `dir`. */
export async function makeCA(dir: string, commonName: string): Promise<CertificateAuthority> {
  const keyFile = `${dir}/ca.key`;
  const certFile = `${dir}/ca.crt`;
  await ecKey(keyFile);
  await openssl([
    ...["req", "-x509", "-new", "-key", keyFile, "-out", certFile, "-days", "2"],
    ...["-subj", `/CN=${commonName}`, "-addext", "basicConstraints=critical,CA:TRUE"],
    ...["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
  ]);
  return { certFile, keyFile };
}

/**
 * A serving certificate for 127.0.0.1, localhost and `extraIps`, signed by
 * `ca`.
 */
export function makeServingCert(
  ca: CertificateAuthority,
  dir: string,
  name: string,
  extraIps: string[] = [],
): Promise<KeyPair> {
  const ips = ["127.0.0.1", ...extraIps].map((ip) => `IP:${ip}`);
  return signedCert(ca, dir, name, [
    "keyUsage=critical,digitalSignature,keyEncipherment",
    "extendedKeyUsage=serverAuth",
    // The in-cluster names too, so that tokens and clients that use them still verify.
    `subjectAltName=${ips.join(",")},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc`,
  ]);
}

/** A client certificate (e.g. for a `--tlsverify` dockerd), signed by `ca`. */
export function makeClientCert(
  ca: CertificateAuthority,
  dir: string,
  name: string,
): Promise<KeyPair> {
  return signedCert(ca, dir, name, [
    "keyUsage=critical,digitalSignature",
    "extendedKeyUsage=clientAuth",
  ]);
}

/** A new key and a certificate for it with these extensions, signed by `ca`. */
async function signedCert(
  ca: CertificateAuthority,
  dir: string,
  name: string,
  extensions: string[],
): Promise<KeyPair> {
  const keyFile = `${dir}/${name}.key`;
  const csrFile = `${dir}/${name}.csr`;
  const certFile = `${dir}/${name}.crt`;
  const extFile = `${dir}/${name}.ext`;
  await ecKey(keyFile);
  await openssl(["req", "-new", "-key", keyFile, "-out", csrFile, "-subj", `/CN=${name}`]);
  Deno.writeTextFileSync(
    extFile,
    ["basicConstraints=critical,CA:FALSE", ...extensions].join("\n"),
  );
  await openssl([
    ...["x509", "-req", "-in", csrFile, "-CA", ca.certFile, "-CAkey", ca.keyFile],
    // A random serial per certificate: `-CAcreateserial` shares one serial file,
    // which certificates signed in parallel would race on.
    ...["-set_serial", `0x${randomSerial()}`],
    ...["-out", certFile, "-days", "2", "-extfile", extFile],
  ]);
  return { certFile, keyFile };
}

/** The service-account signing key (private) and its public key, as PEM files. */
export async function makeSigningKey(
  dir: string,
): Promise<{ privateKeyFile: string; publicKeyFile: string }> {
  const privateKeyFile = `${dir}/sa.key`;
  const publicKeyFile = `${dir}/sa.pub`;
  await ecKey(privateKeyFile);
  await openssl(["pkey", "-in", privateKeyFile, "-pubout", "-out", publicKeyFile]);
  return { privateKeyFile, publicKeyFile };
}

/** 16 random bytes in hex: a positive serial number (top bit cleared). */
function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f;
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
