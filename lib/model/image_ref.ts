/**
 * Image references, parsed and normalised the way the container engine does it
 * (distribution/reference `ParseNormalizedNamed`), so that `app`,
 * `docker.io/library/app:latest` and `index.docker.io/library/app` all land on
 * the same snapshot key. Matching a workload to an image is only as good as
 * this agreement with the engine, hence the grammar below is kept verbatim.
 */

/** A parsed, normalised image reference. */
export interface ImageReference {
  /** The text as the workload spells it; kept so patches change only the tag. */
  readonly original: string;
  /**
   * The registry domain after normalisation (`docker.io`, `localhost:5000`).
   * Empty in one corner case the engine also has: a first component that
   * looks like a domain (has a `.`) but is only valid as a path component,
   * such as `my_registry.local/app`.
   */
  readonly domain: string;
  /** The path after normalisation (`library/app`, `team/app`). */
  readonly path: string;
  /** `domain/path` (just `path` when the domain is empty). */
  readonly repository: string;
  /** The tag as written, or undefined when none was given (the engine then uses `latest`). */
  readonly tag: string | undefined;
  /** The digest as written (`sha256:…`), or undefined. */
  readonly digest: string | undefined;
}

/** A reference the engine would refuse too; `reason` is the engine-style explanation. */
export class InvalidReferenceError extends Error {
  /** The text that failed to parse. */
  readonly reference: string;
  /** Why, e.g. `repository name must be lowercase`. */
  readonly reason: string;

  constructor(reference: string, reason: string) {
    super(`Invalid image reference ${JSON.stringify(reference)}: ${reason}`);
    this.name = "InvalidReferenceError";
    this.reference = reference;
    this.reason = reason;
  }
}

/** The tag the engine assumes when a reference has none. */
export const DEFAULT_TAG = "latest";

const DEFAULT_DOMAIN = "docker.io";
const LEGACY_DEFAULT_DOMAIN = "index.docker.io";
const OFFICIAL_PREFIX = "library/";
/** distribution/reference v0.6 counts the path only (it counted the domain too before 2024). */
const MAX_PATH_LENGTH = 255;

const PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*";
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;

const PATH_RE = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const DOMAIN_RE = new RegExp(`^${DOMAIN}$`);
const TAG_RE = /^\w[\w.-]{0,127}$/;
const DIGEST_RE = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
/** A bare image ID; the engine refuses it as a name so it is never mistaken for one. */
const IDENTIFIER_RE = /^[a-f0-9]{64}$/;

/** Whether `tag` is a valid tag (`[\w][\w.-]{0,127}`). */
export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

/**
 * Parses and normalises an image reference. Throws InvalidReferenceError (and
 * nothing else, whatever the input) when the engine would refuse it.
 *
 * Digests are checked against the reference grammar only, not against the
 * set of algorithms the engine supports: digest-pinned references are never
 * acted on, so the finer distinction would change nothing.
 */
export function parseReference(text: string): ImageReference {
  const fail = (reason: string): never => {
    throw new InvalidReferenceError(typeof text === "string" ? text : `(${typeof text})`, reason);
  };
  if (typeof text !== "string") fail("not a string");
  if (text === "") fail("repository name must have at least one component");
  if (IDENTIFIER_RE.test(text)) {
    fail("a 64-character hexadecimal string is an image ID, not a repository name");
  }

  // `@` and `:` cannot occur in a tag or digest's algorithm, and `/` cannot
  // occur after the name, so the separators can be found without backtracking.
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) fail("invalid digest format");
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) fail("invalid tag format");
  }
  if (rest === "") fail("repository name must have at least one component");

  const { domain, path } = normaliseName(rest, fail);
  if (path.length > MAX_PATH_LENGTH) {
    fail(`repository name must not be more than ${MAX_PATH_LENGTH} characters`);
  }
  const repository = domain === "" ? path : `${domain}/${path}`;
  return { original: text, domain, path, repository, tag, digest };
}

/** splitDockerDomain followed by the grammar check of `Parse`, as the engine does it. */
function normaliseName(
  name: string,
  fail: (reason: string) => never,
): { domain: string; path: string } {
  let domain = DEFAULT_DOMAIN;
  let remote = name;
  const slash = name.indexOf("/");
  if (slash < 0) {
    remote = OFFICIAL_PREFIX + name;
  } else {
    const first = name.slice(0, slash);
    if (first === LEGACY_DEFAULT_DOMAIN) {
      remote = name.slice(slash + 1);
    } else if (
      first === "localhost" || first.includes(".") || first.includes(":") ||
      first !== first.toLowerCase()
    ) {
      domain = first;
      remote = name.slice(slash + 1);
    }
    if (domain === DEFAULT_DOMAIN && !remote.includes("/")) remote = OFFICIAL_PREFIX + remote;
  }
  if (remote !== remote.toLowerCase()) fail("repository name must be lowercase");
  if (!PATH_RE.test(remote)) fail(describePathProblem(remote));
  if (DOMAIN_RE.test(domain)) return { domain, path: remote };
  // The engine's name grammar makes the domain optional, so a "domain" that
  // is a valid path component becomes part of the path, with no domain.
  const whole = `${domain}/${remote}`;
  if (PATH_RE.test(whole)) return { domain: "", path: whole };
  return fail(`invalid registry domain ${JSON.stringify(domain)}`);
}

function describePathProblem(remote: string): string {
  if (remote.split("/").some((component) => component === "")) {
    return "invalid reference format: empty path component";
  }
  return "invalid reference format";
}

/**
 * The snapshot key of a reference: `repository:tag`, the tag defaulting to
 * `latest` (the key ImageSnapshot uses). Undefined for a digest-pinned
 * reference (also `repo:tag@digest`): the engine runs the digest and ignores
 * the tag, so no tag in the snapshot describes what it runs.
 */
export function imageKey(ref: ImageReference): string | undefined {
  if (ref.digest !== undefined) return undefined;
  return `${ref.repository}:${ref.tag ?? DEFAULT_TAG}`;
}

/** Splits a snapshot key back into repository and tag; undefined when it has no tag. */
export function splitImageKey(key: string): { repository: string; tag: string } | undefined {
  const colon = key.lastIndexOf(":");
  if (colon <= 0 || colon <= key.lastIndexOf("/") || colon === key.length - 1) return undefined;
  return { repository: key.slice(0, colon), tag: key.slice(colon + 1) };
}

/**
 * The reference with only the tag changed, keeping the workload's own spelling
 * of the repository (`app:v1` + `fix` → `app:fix`, `docker.io/library/app` +
 * `fix` → `docker.io/library/app:fix`). A digest, if any, is dropped, because
 * it would otherwise keep pinning the old image. Throws InvalidReferenceError
 * for an invalid tag.
 */
export function withTag(ref: ImageReference, tag: string): string {
  let name = ref.original;
  const at = name.indexOf("@");
  if (at >= 0) name = name.slice(0, at);
  if (ref.tag !== undefined) name = name.slice(0, name.length - ref.tag.length - 1);
  const result = `${name}:${tag}`;
  if (!TAG_RE.test(tag)) throw new InvalidReferenceError(result, "invalid tag format");
  return result;
}
