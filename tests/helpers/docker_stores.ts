/**
 * The Docker image stores the end-to-end tests run on: with today's engines,
 * Docker 29's containerd store (the default dockerd) and the classic store (a
 * second dockerd); with the compatibility set, Docker 20.10's classic store
 * alone (one daemon).
 */
import { type Docker, docker, dockerClassic, engineSet } from "../env/mod.ts";
import { binary } from "../env/paths.ts";
import { run } from "../env/process.ts";

export interface DockerStore {
  /** For test names: `containerd store`, `classic store`. */
  readonly name: string;
  readonly daemon: () => Promise<Docker>;
}

/** Every store of this engine set, the default dockerd first. */
export function dockerStores(): DockerStore[] {
  return engineSet() === "today"
    ? [
      { name: "containerd store", daemon: docker },
      { name: "classic store", daemon: dockerClassic },
    ]
    : [{ name: "classic store", daemon: docker }];
}

/**
 * A real `docker build` in `daemon` of `FROM <from>` (scratch by default)
 * plus a file of new content, tagged `ref`: the classic builder
 * (`DOCKER_BUILDKIT=0`) or BuildKit (`DOCKER_BUILDKIT=1`: the CLI's buildx
 * plugin, or the CLI's own BuildKit client on Docker 20.10), which adds an
 * attestation manifest on the containerd store. Returns Docker's image ID.
 */
export async function buildIn(
  daemon: Docker,
  ref: string,
  options: { buildkit: boolean; from?: string },
): Promise<string> {
  const context = await Deno.makeTempDir({ prefix: "vfp-build-" });
  try {
    await Deno.writeTextFile(`${context}/app-id`, `${crypto.randomUUID()}\n`);
    await Deno.writeTextFile(
      `${context}/Dockerfile`,
      `FROM ${options.from ?? "scratch"}\nCOPY app-id /app-id\n`,
    );
    const env = { ...daemon.env, DOCKER_BUILDKIT: options.buildkit ? "1" : "0" };
    await run(binary("docker"), ["build", "--quiet", "--tag", ref, context], { env });
    return await daemon.run(["image", "inspect", "--format", "{{.Id}}", ref]);
  } finally {
    await Deno.remove(context, { recursive: true });
  }
}
