/**
 * actionlint checks the GitHub workflows in .github/workflows (tests/workflows_test.ts).
 * It is the Go module github.com/rhysd/actionlint at a pinned version, built
 * once with `go install` into the cache directory, like the control plane.
 */
import { cacheHome } from "./paths.ts";

/** The pinned release; `go install` checks it against the Go checksum database. */
export const ACTIONLINT_VERSION = "v1.7.12";

/** Where this version's actionlint is, once built. */
export function actionlintPath(): string {
  return `${cacheHome()}/veryfreshpod/actionlint/${ACTIONLINT_VERSION}/actionlint`;
}

/** True when the pinned version is built. */
export function actionlintBuilt(): boolean {
  try {
    return Deno.statSync(actionlintPath()).isFile;
  } catch {
    return false;
  }
}

/** Builds the pinned actionlint with `go` into its cache directory. */
export async function buildActionlint(go: string): Promise<void> {
  const dir = actionlintPath().slice(0, actionlintPath().lastIndexOf("/"));
  // Built beside, then renamed: an interrupted build never looks like a finished one.
  const partial = `${dir}.partial`;
  await Deno.remove(partial, { recursive: true }).catch(() => {});
  const status = await new Deno.Command(go, {
    args: ["install", `github.com/rhysd/actionlint/cmd/actionlint@${ACTIONLINT_VERSION}`],
    env: { GOBIN: partial, GOFLAGS: "-trimpath" },
    stdin: "null",
  }).spawn().status;
  if (!status.success) {
    throw new Error(`go install of actionlint ${ACTIONLINT_VERSION} failed (exit ${status.code})`);
  }
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.rename(partial, dir);
}
