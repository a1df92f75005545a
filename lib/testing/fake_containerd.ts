/**
 * An in-process fake containerd: a grpc-js server on a unix socket that
 * serves the methods ContainerdClient calls, with containerd's own service
 * definitions (the vendored .proto files), not the client's embedded
 * descriptor. Unit tests only; the end-to-end tests use a real containerd.
 */
import * as grpc from "@grpc/grpc-js";
import type {
  ImageInput,
  ImageMessage,
  WriteContentRequest,
  WriteContentResponse,
} from "../engine/containerd_proto.ts";
import {
  vendoredEnumValue,
  type VendoredEnvelope,
  vendoredService,
} from "../engine/containerd_vendored_api.ts";

const COMMIT = vendoredEnumValue("containerd.services.content.v1.WriteAction", "COMMIT");

/** A committed blob of the fake content store. */
export interface FakeBlob {
  data: Uint8Array;
  labels: Record<string, string>;
}

/** What the fake serves; `namespaces` records the namespace header of each call. */
export interface FakeContainerdState {
  /** What Version answers; `1.7.0-fake` by default. */
  version: string;
  images: ImageMessage[];
  namespaces: string[];
  filters: string[][];
  /** The content store, by digest. */
  blobs: Map<string, FakeBlob>;
  /** The leases that exist now. */
  leases: Set<string>;
  /** Every write and image call, with the lease it carried (`-` for none). */
  calls: string[];
  /** Makes the named method (`Images/Create`, …) fail with this status once. */
  failNext: Map<string, grpc.status>;
  /** The open Subscribe calls: write envelopes into them, or end them. */
  subscribers: grpc.ServerWritableStream<{ filters: string[] }, VendoredEnvelope>[];
}

export interface FakeContainerd extends AsyncDisposable {
  readonly socket: string;
  readonly state: FakeContainerdState;
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
  const state: FakeContainerdState = {
    version: "1.7.0-fake",
    images: [],
    namespaces: [],
    filters: [],
    blobs: new Map(),
    leases: new Set(),
    calls: [],
    failNext: new Map(),
    subscribers: [],
  };
  const record = (metadata: grpc.Metadata) =>
    state.namespaces.push(String(metadata.get("containerd-namespace")[0] ?? ""));
  /** Records a writing call; a ServiceError when the test asked it to fail. */
  const writing = (method: string, metadata: grpc.Metadata, detail = "") => {
    record(metadata);
    state.calls.push(`${method}${detail} lease=${metadata.get("containerd-lease")[0] ?? "-"}`);
    const code = state.failNext.get(method);
    state.failNext.delete(method);
    return code === undefined ? null : { code, details: `${method} failed on purpose` };
  };
  const server = new grpc.Server();
  server.addService(vendoredService("containerd.services.version.v1.Version"), {
    Version: (call: grpc.ServerUnaryCall<object, object>, callback: grpc.sendUnaryData<object>) => {
      record(call.metadata);
      callback(null, { version: state.version, revision: "fake" });
    },
  });
  server.addService(vendoredService("containerd.services.images.v1.Images"), {
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
    Create: (
      call: grpc.ServerUnaryCall<{ image: ImageInput }, object>,
      callback: grpc.sendUnaryData<object>,
    ) => {
      const failure = writing("Images/Create", call.metadata, ` ${call.request.image.name}`);
      if (failure) return callback(failure);
      if (state.images.some((image) => image.name === call.request.image.name)) {
        return callback({ code: grpc.status.ALREADY_EXISTS, details: "image exists" });
      }
      state.images.push(storedImage(call.request.image));
      callback(null, { image: call.request.image });
    },
    Update: (
      call: grpc.ServerUnaryCall<{ image: ImageInput }, object>,
      callback: grpc.sendUnaryData<object>,
    ) => {
      const failure = writing("Images/Update", call.metadata, ` ${call.request.image.name}`);
      if (failure) return callback(failure);
      const at = state.images.findIndex((image) => image.name === call.request.image.name);
      if (at < 0) return callback({ code: grpc.status.NOT_FOUND, details: "no such image" });
      state.images[at] = storedImage(call.request.image);
      callback(null, { image: call.request.image });
    },
  });
  server.addService(vendoredService("containerd.services.leases.v1.Leases"), {
    Create: (
      call: grpc.ServerUnaryCall<{ id: string; labels: Record<string, string> }, object>,
      callback: grpc.sendUnaryData<object>,
    ) => {
      record(call.metadata);
      if (!call.request.labels["containerd.io/gc.expire"]) {
        return callback({ code: grpc.status.INVALID_ARGUMENT, details: "lease never expires" });
      }
      state.leases.add(call.request.id);
      callback(null, { lease: { id: call.request.id, labels: call.request.labels } });
    },
    Delete: (
      call: grpc.ServerUnaryCall<{ id: string }, object>,
      callback: grpc.sendUnaryData<object>,
    ) => {
      record(call.metadata);
      state.leases.delete(call.request.id);
      callback(null, {});
    },
    AddResource: (
      call: grpc.ServerUnaryCall<{ id: string; resource: { id: string } }, object>,
      callback: grpc.sendUnaryData<object>,
    ) => {
      const failure = writing("Leases/AddResource", call.metadata, ` ${call.request.resource.id}`);
      if (failure) return callback(failure);
      callback(null, {});
    },
  });
  server.addService(vendoredService("containerd.services.content.v1.Content"), {
    Write: (call: grpc.ServerDuplexStream<WriteContentRequest, WriteContentResponse>) =>
      fakeWrite(call, state, writing),
    Info: (
      call: grpc.ServerUnaryCall<{ digest: string }, object>,
      callback: grpc.sendUnaryData<object>,
    ) => {
      record(call.metadata);
      const blob = state.blobs.get(call.request.digest);
      if (blob === undefined) {
        callback({ code: grpc.status.NOT_FOUND, details: `${call.request.digest}: not found` });
        return;
      }
      const { digest } = call.request;
      callback(null, { info: { digest, size: blob.data.length, labels: blob.labels } });
    },
    Read: (call: grpc.ServerWritableStream<{ digest: string }, object>) => {
      record(call.metadata);
      const blob = state.blobs.get(call.request.digest);
      if (blob === undefined) {
        call.destroy(Object.assign(new Error("not found"), { code: grpc.status.NOT_FOUND }));
        return;
      }
      call.write({ offset: 0, data: blob.data });
      call.end();
    },
  });
  server.addService(vendoredService("containerd.services.events.v1.Events"), {
    Subscribe: (call: grpc.ServerWritableStream<{ filters: string[] }, VendoredEnvelope>) => {
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

type FakeFailure = { code: grpc.status; details: string };

function storedImage(image: ImageInput): ImageMessage {
  return {
    name: image.name,
    labels: image.labels,
    target: { ...image.target, size: String(image.target.size), annotations: {} },
  };
}

async function sha256(data: Uint8Array): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(data)));
  return `sha256:${Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/**
 * Content/Write the way containerd's content service answers it: the first
 * message opens the ingest (ALREADY_EXISTS when the store has the expected
 * digest), each WRITE appends at its offset, COMMIT checks size and digest.
 */
async function fakeWrite(
  call: grpc.ServerDuplexStream<WriteContentRequest, WriteContentResponse>,
  state: FakeContainerdState,
  writing: (method: string, metadata: grpc.Metadata, detail?: string) => FakeFailure | null,
): Promise<void> {
  const chunks: Uint8Array[] = [];
  let offset = 0;
  let first = true;
  // grpc-js turns an 'error' event of a server stream into the call's status.
  const fail = (code: grpc.status, details: string): void =>
    void call.emit("error", { code, details });
  for await (const request of call as AsyncIterable<WriteContentRequest>) {
    if (first) {
      first = false;
      const failure = writing("Content/Write", call.metadata, ` ${request.expected}`);
      if (failure) return fail(failure.code, failure.details);
      if (request.ref === "") {
        return fail(grpc.status.INVALID_ARGUMENT, "first message must have a reference");
      }
      if (state.blobs.has(request.expected)) return fail(grpc.status.ALREADY_EXISTS, "blob exists");
    }
    if (Number(request.offset) !== offset) {
      return fail(grpc.status.OUT_OF_RANGE, `write @${request.offset} must occur at ${offset}`);
    }
    if (request.data !== undefined && request.data.length > 0) {
      chunks.push(request.data);
      offset += request.data.length;
    }
    const data = new Uint8Array(offset);
    let at = 0;
    for (const chunk of chunks) {
      data.set(chunk, at);
      at += chunk.length;
    }
    const digest = await sha256(data);
    if (request.action === COMMIT) {
      if (Number(request.total) !== offset || digest !== request.expected) {
        return fail(grpc.status.FAILED_PRECONDITION, `unexpected commit digest ${digest}`);
      }
      state.blobs.set(digest, { data, labels: request.labels ?? {} });
    }
    call.write({
      action: request.action,
      offset: String(offset),
      total: String(request.total),
      digest,
    });
    if (request.action === COMMIT) return void call.end();
  }
}
