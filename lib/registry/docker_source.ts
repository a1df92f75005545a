/**
 * The registry's source for a Docker engine, in a module of its own: it
 * loads gRPC (Docker's containerd is read through it), which `run` loads
 * only when a registry is in use.
 */
import type { DockerClient } from "../engine/docker_client.ts";
import { MobySource } from "../bridge/moby_source.ts";
import { DockerEngineSource, DockerImageSource, type ImageSource } from "./image_source.ts";

/** The source for a Docker engine: its containerd when it can be read, else its save. */
export function dockerEngineSource(docker: DockerClient): ImageSource {
  const moby = new MobySource(docker);
  return new DockerEngineSource(
    new DockerImageSource(docker),
    () => moby.reader(),
    () => moby.close(),
  );
}
