/**
 * An in-process fake of the few Docker Engine endpoints the client uses,
 * listening on a unix socket in a temporary directory. Unit tests only; the
 * end-to-end tests use a real dockerd.
 */
import { parseDockerHost } from "../engine/docker_host.ts";
import { DockerClient, type DockerClientOptions } from "../engine/docker_client.ts";

/** A fake daemon; `requests` records every path asked for. */
export interface FakeDocker extends AsyncDisposable {
  readonly socket: string;
  readonly requests: string[];
  /** A client for the fake, closed with it. */
  readonly client: DockerClient;
}

/** The `GET /version` body of a daemon speaking `apiVersion`. */
export function versionBody(apiVersion: string, minApiVersion = "1.24"): Record<string, unknown> {
  return { Version: "27.5.1", ApiVersion: apiVersion, MinAPIVersion: minApiVersion, Os: "linux" };
}

/** Starts a fake; `handler` answers every request (its path includes the query). */
export async function fakeDocker(
  handler: (request: Request, path: string) => Response | Promise<Response>,
  options: DockerClientOptions = {},
): Promise<FakeDocker> {
  const directory = await Deno.makeTempDir({ prefix: "vfp-fake-docker-" });
  const socket = `${directory}/docker.sock`;
  const requests: string[] = [];
  const server = Deno.serve({ path: socket, onListen() {} }, (request) => {
    const url = new URL(request.url);
    const path = url.pathname + url.search;
    requests.push(path);
    return handler(request, path);
  });
  const client = new DockerClient(parseDockerHost(`unix://${socket}`), options);
  return {
    socket,
    requests,
    client,
    async [Symbol.asyncDispose]() {
      client.close();
      await server.shutdown();
      await Deno.remove(directory, { recursive: true });
    },
  };
}

/** A JSON response. */
export function json(body: unknown, status = 200): Response {
  return Response.json(body, { status, headers: { "Api-Version": "1.47" } });
}
