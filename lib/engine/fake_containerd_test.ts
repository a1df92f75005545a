/**
 * An in-process fake containerd: a grpc-js server on a unix socket that
 * serves the methods ContainerdClient calls, from the same embedded
 * descriptor. Unit tests only; the end-to-end tests use a real containerd.
 */
import * as grpc from "@grpc/grpc-js";
import type { MethodDefinition } from "@grpc/proto-loader";
import {
  type EnvelopeMessage,
  EventsSubscribe,
  type ImageMessage,
  ImagesGet,
  ImagesList,
  VersionVersion,
} from "./containerd_proto.ts";

/** What the fake serves; `namespaces` records the namespace header of each call. */
export interface FakeContainerdState {
  images: ImageMessage[];
  namespaces: string[];
  filters: string[][];
  /** The open Subscribe calls: write envelopes into them, or end them. */
  subscribers: grpc.ServerWritableStream<{ filters: string[] }, EnvelopeMessage>[];
}

export interface FakeContainerd extends AsyncDisposable {
  readonly socket: string;
  readonly state: FakeContainerdState;
}

function service(methods: Record<string, MethodDefinition<object, object>>) {
  return methods as grpc.ServiceDefinition;
}

/** An image message as the Images service returns it. */
export function image(name: string, digest: string): ImageMessage {
  return {
    name,
    labels: {},
    target: {
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest,
      size: "1",
      annotations: {},
    },
  };
}

/** Starts a fake containerd on a fresh socket. */
export async function fakeContainerd(): Promise<FakeContainerd> {
  const directory = await Deno.makeTempDir({ prefix: "vfp-fake-containerd-" });
  const socket = `${directory}/containerd.sock`;
  const state: FakeContainerdState = { images: [], namespaces: [], filters: [], subscribers: [] };
  const record = (metadata: grpc.Metadata) =>
    state.namespaces.push(String(metadata.get("containerd-namespace")[0] ?? ""));
  const server = new grpc.Server();
  server.addService(service({ Version: VersionVersion as never }), {
    Version: (call: grpc.ServerUnaryCall<object, object>, callback: grpc.sendUnaryData<object>) => {
      record(call.metadata);
      callback(null, { version: "1.7.0-fake", revision: "fake" });
    },
  });
  server.addService(service({ List: ImagesList as never, Get: ImagesGet as never }), {
    List: (
      call: grpc.ServerUnaryCall<{ filters: string[] }, object>,
      callback: grpc.sendUnaryData<object>,
    ) => {
      record(call.metadata);
      state.filters.push(call.request.filters);
      callback(null, { images: state.images });
    },
    Get: (
      call: grpc.ServerUnaryCall<{ name: string }, object>,
      callback: grpc.sendUnaryData<object>,
    ) => {
      record(call.metadata);
      const found = state.images.find((candidate) => candidate.name === call.request.name);
      if (found) callback(null, { image: found });
      else {callback({
          code: grpc.status.NOT_FOUND,
          details: `image "${call.request.name}": not found`,
        });}
    },
  });
  server.addService(service({ Subscribe: EventsSubscribe as never }), {
    Subscribe: (call: grpc.ServerWritableStream<{ filters: string[] }, EnvelopeMessage>) => {
      record(call.metadata);
      state.filters.push(call.request.filters);
      state.subscribers.push(call);
    },
  });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(
      `unix://${socket}`,
      grpc.ServerCredentials.createInsecure(),
      (error) => error ? reject(error) : resolve(),
    )
  );
  return {
    socket,
    state,
    async [Symbol.asyncDispose]() {
      server.forceShutdown();
      await Deno.remove(directory, { recursive: true });
    },
  };
}
