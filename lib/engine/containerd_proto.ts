/**
 * The part of containerd's gRPC API veryfreshpod uses, as a protobufjs JSON
 * descriptor embedded in the source: the program is compiled into one binary
 * and must not read .proto files at run time. Field numbers follow
 * containerd's `api/` protos (1.x and 2.x share the wire format); messages
 * are cut down to the fields read here, which protobuf allows. Field names
 * are written in camelCase: protobufjs's JSON form takes them as the names of
 * the JavaScript properties (the wire format only knows the numbers).
 * containerd_proto_test.ts checks every method and field here against
 * containerd's own .proto files, vendored in third_party/containerd.
 */
import type { MessageTypeDefinition, MethodDefinition } from "@grpc/proto-loader";
import { fromJSON } from "@grpc/proto-loader";

const string = (id: number) => ({ type: "string", id });
const stringMap = (id: number) => ({ keyType: "string", type: "string", id });
const repeatedString = (id: number) => ({ rule: "repeated", type: "string", id });
const int64 = (id: number) => ({ type: "int64", id });
const imageField = { image: { type: "Image", id: 1 } };

const DESCRIPTOR = {
  nested: {
    google: {
      nested: {
        protobuf: {
          nested: {
            Timestamp: {
              fields: { seconds: { type: "int64", id: 1 }, nanos: { type: "int32", id: 2 } },
            },
            Any: { fields: { typeUrl: string(1), value: { type: "bytes", id: 2 } } },
            Empty: { fields: {} },
          },
        },
      },
    },
    containerd: {
      nested: {
        types: {
          nested: {
            Descriptor: {
              fields: {
                mediaType: string(1),
                digest: string(2),
                size: { type: "int64", id: 3 },
                annotations: stringMap(5),
              },
            },
          },
        },
        services: {
          nested: {
            images: {
              nested: {
                v1: {
                  nested: {
                    Images: {
                      methods: {
                        Get: { requestType: "GetImageRequest", responseType: "GetImageResponse" },
                        List: {
                          requestType: "ListImagesRequest",
                          responseType: "ListImagesResponse",
                        },
                        Create: {
                          requestType: "CreateImageRequest",
                          responseType: "CreateImageResponse",
                        },
                        Update: {
                          requestType: "UpdateImageRequest",
                          responseType: "UpdateImageResponse",
                        },
                      },
                    },
                    // Only `image` of each; without an update mask, Update replaces the record.
                    CreateImageRequest: { fields: imageField },
                    CreateImageResponse: { fields: imageField },
                    UpdateImageRequest: { fields: imageField },
                    UpdateImageResponse: { fields: imageField },
                    Image: {
                      fields: {
                        name: string(1),
                        labels: stringMap(2),
                        target: { type: "containerd.types.Descriptor", id: 3 },
                        createdAt: { type: "google.protobuf.Timestamp", id: 7 },
                        updatedAt: { type: "google.protobuf.Timestamp", id: 8 },
                      },
                    },
                    GetImageRequest: { fields: { name: string(1) } },
                    GetImageResponse: { fields: { image: { type: "Image", id: 1 } } },
                    ListImagesRequest: { fields: { filters: repeatedString(1) } },
                    ListImagesResponse: {
                      fields: { images: { rule: "repeated", type: "Image", id: 1 } },
                    },
                    // Event payloads (api/events/image.proto), published on /images/*.
                    ImageCreate: { fields: { name: string(1), labels: stringMap(2) } },
                    ImageUpdate: { fields: { name: string(1), labels: stringMap(2) } },
                    ImageDelete: { fields: { name: string(1) } },
                  },
                },
              },
            },
            content: {
              nested: {
                v1: {
                  nested: {
                    Content: {
                      methods: {
                        Info: { requestType: "InfoRequest", responseType: "InfoResponse" },
                        Read: {
                          requestType: "ReadContentRequest",
                          responseType: "ReadContentResponse",
                          responseStream: true,
                        },
                        Write: {
                          requestType: "WriteContentRequest",
                          responseType: "WriteContentResponse",
                          requestStream: true,
                          responseStream: true,
                        },
                      },
                    },
                    InfoRequest: { fields: { digest: string(1) } },
                    ReadContentRequest: {
                      fields: { digest: string(1), offset: int64(2), size: int64(3) },
                    },
                    ReadContentResponse: {
                      fields: { offset: int64(1), data: { type: "bytes", id: 2 } },
                    },
                    InfoResponse: { fields: { info: { type: "Info", id: 1 } } },
                    Info: {
                      fields: { digest: string(1), size: int64(2), labels: stringMap(5) },
                    },
                    WriteAction: { values: { STAT: 0, WRITE: 1, COMMIT: 2 } },
                    WriteContentRequest: {
                      fields: {
                        action: { type: "WriteAction", id: 1 },
                        ref: string(2),
                        total: int64(3),
                        expected: string(4),
                        offset: int64(5),
                        data: { type: "bytes", id: 6 },
                        labels: stringMap(7),
                      },
                    },
                    WriteContentResponse: {
                      fields: {
                        action: { type: "WriteAction", id: 1 },
                        offset: int64(4),
                        total: int64(5),
                        digest: string(6),
                      },
                    },
                  },
                },
              },
            },
            leases: {
              nested: {
                v1: {
                  nested: {
                    Leases: {
                      methods: {
                        Create: { requestType: "CreateRequest", responseType: "CreateResponse" },
                        Delete: {
                          requestType: "DeleteRequest",
                          responseType: "google.protobuf.Empty",
                        },
                        AddResource: {
                          requestType: "AddResourceRequest",
                          responseType: "google.protobuf.Empty",
                        },
                      },
                    },
                    Resource: { fields: { id: string(1), type: string(2) } },
                    AddResourceRequest: {
                      fields: { id: string(1), resource: { type: "Resource", id: 2 } },
                    },
                    Lease: { fields: { id: string(1), labels: stringMap(3) } },
                    CreateRequest: { fields: { id: string(1), labels: stringMap(3) } },
                    CreateResponse: { fields: { lease: { type: "Lease", id: 1 } } },
                    DeleteRequest: { fields: { id: string(1), sync: { type: "bool", id: 2 } } },
                  },
                },
              },
            },
            events: {
              nested: {
                v1: {
                  nested: {
                    Events: {
                      methods: {
                        Subscribe: {
                          requestType: "SubscribeRequest",
                          responseType: "Envelope",
                          responseStream: true,
                        },
                      },
                    },
                    SubscribeRequest: { fields: { filters: repeatedString(1) } },
                    Envelope: {
                      fields: {
                        timestamp: { type: "google.protobuf.Timestamp", id: 1 },
                        namespace: string(2),
                        topic: string(3),
                        event: { type: "google.protobuf.Any", id: 4 },
                      },
                    },
                  },
                },
              },
            },
            version: {
              nested: {
                v1: {
                  nested: {
                    Version: {
                      methods: {
                        Version: {
                          requestType: "google.protobuf.Empty",
                          responseType: "VersionResponse",
                        },
                      },
                    },
                    VersionResponse: { fields: { version: string(1), revision: string(2) } },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
};

// Decoded shapes, with the loader options below: int64 as string, every
// field present (empty, or null for a message, when unset).

export interface DescriptorMessage {
  mediaType: string;
  digest: string;
  size: string;
  annotations: Record<string, string>;
}

export interface ImageMessage {
  name: string;
  labels: Record<string, string>;
  /** Absent only when the daemon sends none, which it never should. */
  target: DescriptorMessage | null;
  /** When the name was made, and last moved to another target (the tag's own time). */
  createdAt?: TimestampMessage | null;
  updatedAt?: TimestampMessage | null;
}

/** `google.protobuf.Timestamp`, int64 seconds as a string (the loader's `longs: String`). */
export interface TimestampMessage {
  seconds: string;
  nanos: number;
}

/** A Timestamp in milliseconds since the epoch; undefined when unset or zero. */
export function timestampMs(timestamp: TimestampMessage | null | undefined): number | undefined {
  if (!timestamp) return undefined;
  const ms = Number(timestamp.seconds) * 1000 + (timestamp.nanos ?? 0) / 1e6;
  return Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

/** What Images/Create and Update take: a name, labels and the target descriptor. */
export interface ImageInput {
  name: string;
  labels: Record<string, string>;
  target: { mediaType: string; digest: string; size: number; annotations?: Record<string, string> };
}

/** `WriteContentRequest.action`. */
export const WriteAction = { STAT: 0, WRITE: 1, COMMIT: 2 } as const;

export interface WriteContentRequest {
  action: typeof WriteAction[keyof typeof WriteAction];
  ref: string;
  total: number;
  expected: string;
  offset: number;
  data?: Uint8Array;
  labels?: Record<string, string>;
}

export interface WriteContentResponse {
  action: number;
  offset: string;
  total: string;
  digest: string;
}

export interface AnyMessage {
  typeUrl: string;
  value: Uint8Array;
}

export interface EnvelopeMessage {
  timestamp?: TimestampMessage | null;
  namespace: string;
  topic: string;
  event: AnyMessage | null;
}

export interface VersionMessage {
  version: string;
  revision: string;
}

/** How messages are decoded: the shapes above. */
export const LOADER_OPTIONS = {
  longs: String,
  defaults: true,
  arrays: true,
  objects: true,
  oneofs: false,
};

const definition = fromJSON(DESCRIPTOR as Parameters<typeof fromJSON>[0], LOADER_OPTIONS);

function method<Request, Response>(service: string, name: string) {
  const found = definition[service]?.[name as never] as unknown;
  if (found === undefined) throw new Error(`containerd_proto: no method ${service}/${name}`);
  return found as MethodDefinition<Request, Response>;
}

export const ImagesList = method<{ filters: string[] }, { images: ImageMessage[] }>(
  "containerd.services.images.v1.Images",
  "List",
);
export const ImagesGet = method<{ name: string }, { image: ImageMessage | null }>(
  "containerd.services.images.v1.Images",
  "Get",
);
export const ImagesCreate = method<{ image: ImageInput }, { image: ImageMessage | null }>(
  "containerd.services.images.v1.Images",
  "Create",
);
export const ImagesUpdate = method<{ image: ImageInput }, { image: ImageMessage | null }>(
  "containerd.services.images.v1.Images",
  "Update",
);
export const ContentWrite = method<WriteContentRequest, WriteContentResponse>(
  "containerd.services.content.v1.Content",
  "Write",
);
export const ContentInfo = method<
  { digest: string },
  { info: { digest: string; size: string; labels: Record<string, string> } | null }
>("containerd.services.content.v1.Content", "Info");
export const ContentRead = method<
  { digest: string; offset: number; size: number },
  { offset: string; data: Uint8Array }
>("containerd.services.content.v1.Content", "Read");
export const LeasesAddResource = method<
  { id: string; resource: { id: string; type: string } },
  Record<string, never>
>("containerd.services.leases.v1.Leases", "AddResource");
export const LeasesCreate = method<
  { id: string; labels: Record<string, string> },
  { lease: { id: string } | null }
>("containerd.services.leases.v1.Leases", "Create");
export const LeasesDelete = method<{ id: string; sync: boolean }, Record<string, never>>(
  "containerd.services.leases.v1.Leases",
  "Delete",
);
export const EventsSubscribe = method<{ filters: string[] }, EnvelopeMessage>(
  "containerd.services.events.v1.Events",
  "Subscribe",
);
export const VersionVersion = method<Record<string, never>, VersionMessage>(
  "containerd.services.version.v1.Version",
  "Version",
);

/** The image event payloads, by the full name `Any.type_url` carries. */
const IMAGE_EVENT_TYPES = [
  "containerd.services.images.v1.ImageCreate",
  "containerd.services.images.v1.ImageUpdate",
  "containerd.services.images.v1.ImageDelete",
];

/**
 * The image name an image event payload carries, or undefined for another
 * payload or one that does not decode. `type_url` may have a `host/` prefix.
 */
export function imageEventName(any: AnyMessage | null): string | undefined {
  if (any === null) return undefined;
  const typeName = any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1);
  if (!IMAGE_EVENT_TYPES.includes(typeName)) return undefined;
  const type = definition[typeName] as MessageTypeDefinition<object, { name?: string }> | undefined;
  try {
    const name = type?.deserialize(any.value as never).name;
    return typeof name === "string" && name !== "" ? name : undefined;
  } catch {
    return undefined;
  }
}
