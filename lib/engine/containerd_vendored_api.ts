/**
 * containerd's own API, loaded from the .proto files vendored in
 * third_party/containerd (see its README) with the options the client uses.
 * For tests only: the fake containerd serves these definitions, and
 * containerd_proto_test.ts checks the client's embedded descriptor against
 * them, so neither shares the descriptor it is meant to check.
 */
import { loadSync, type MessageTypeDefinition, type PackageDefinition } from "@grpc/proto-loader";
import type * as grpc from "@grpc/grpc-js";
import { LOADER_OPTIONS } from "./containerd_proto.ts";

/** The include directory: the files import each other as `types/descriptor.proto`. */
export const VENDORED_API_DIR = new URL("../../third_party/containerd/api/", import.meta.url)
  .pathname;

/** Every service file used; the types they import come along. */
const SERVICE_FILES = [
  "services/content/v1/content.proto",
  "services/events/v1/events.proto",
  "services/images/v1/images.proto",
  "services/leases/v1/leases.proto",
  "services/version/v1/version.proto",
  "events/image.proto",
];

let loaded: PackageDefinition | undefined;

/** The definitions of every vendored message and service, by full name. */
export function vendoredContainerdApi(): PackageDefinition {
  loaded ??= loadSync(SERVICE_FILES, { ...LOADER_OPTIONS, includeDirs: [VENDORED_API_DIR] });
  return loaded;
}

/** A vendored service, for grpc-js's `Server.addService`. */
export function vendoredService(name: string): grpc.ServiceDefinition {
  const service = vendoredContainerdApi()[name];
  if (service === undefined || "format" in service) {
    throw new Error(`no service ${name} in ${VENDORED_API_DIR}`);
  }
  return service as unknown as grpc.ServiceDefinition;
}

/**
 * An event envelope as the vendored definitions encode it. `google.protobuf.Any`
 * comes from protobufjs's bundled copy, whose field names stay snake_case.
 */
export interface VendoredEnvelope {
  namespace: string;
  topic: string;
  event: { type_url: string; value: Uint8Array };
}

/** The envelope containerd publishes for an image event (`ImageCreate`, …) naming `name`. */
export function imageEventEnvelope(
  namespace: string,
  topic: string,
  typeName: string,
  name: string,
): VendoredEnvelope {
  return {
    namespace,
    topic,
    event: { type_url: typeName, value: encodeImageEvent(typeName, name) },
  };
}

/** Encodes an image event payload (`ImageCreate`, …) the way containerd does. */
export function encodeImageEvent(typeName: string, name: string): Uint8Array {
  const type = vendoredContainerdApi()[typeName] as
    | MessageTypeDefinition<object, object>
    | undefined;
  if (type === undefined) throw new Error(`no message ${typeName} in ${VENDORED_API_DIR}`);
  return type.serialize({ name });
}

/** The number of a value of a vendored enum, e.g. `WriteAction.COMMIT`. */
export function vendoredEnumValue(enumName: string, valueName: string): number {
  const type = vendoredContainerdApi()[enumName] as
    | { type?: { value?: { name: string; number: number }[] } }
    | undefined;
  const found = type?.type?.value?.find((value) => value.name === valueName);
  if (found === undefined) {
    throw new Error(`no value ${enumName}.${valueName} in ${VENDORED_API_DIR}`);
  }
  return found.number;
}
