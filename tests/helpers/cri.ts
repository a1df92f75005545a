/**
 * The one question the kubelet asks containerd's CRI plugin about a local
 * image (`imagePullPolicy: Never`): ImageStatus. End-to-end tests ask it too,
 * to prove that an image written into containerd is one a pod can use.
 */
import * as grpc from "@grpc/grpc-js";
import { fromJSON } from "@grpc/proto-loader";

// Cut down from CRI's api.proto (k8s.io/cri-api, runtime.v1): only the fields read here.
const CRI = fromJSON(
  ({
    nested: {
      runtime: {
        nested: {
          v1: {
            nested: {
              ImageService: {
                methods: {
                  ImageStatus: {
                    requestType: "ImageStatusRequest",
                    responseType: "ImageStatusResponse",
                  },
                },
              },
              ImageSpec: { fields: { image: { type: "string", id: 1 } } },
              ImageStatusRequest: { fields: { image: { type: "ImageSpec", id: 1 } } },
              Image: {
                fields: {
                  id: { type: "string", id: 1 },
                  repoTags: { rule: "repeated", type: "string", id: 2 },
                },
              },
              ImageStatusResponse: { fields: { image: { type: "Image", id: 1 } } },
            },
          },
        },
      },
    },
  }) as Parameters<typeof fromJSON>[0],
  { defaults: true, arrays: true },
);

/** What the CRI plugin reports for `image` at `socket`, as the kubelet asks it; null when none. */
export async function criImageStatus(
  socket: string,
  image: string,
): Promise<{ id: string; repoTags: string[] } | null> {
  const method = CRI["runtime.v1.ImageService"]?.["ImageStatus" as never] as unknown as {
    path: string;
    requestSerialize: (value: object) => Buffer;
    responseDeserialize: (bytes: Buffer) => { image: { id: string; repoTags: string[] } | null };
  };
  const client = new grpc.Client(`unix://${socket}`, grpc.credentials.createInsecure());
  try {
    return await new Promise((resolve, reject) =>
      client.makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        { image: { image } },
        (error, value) => error ? reject(error) : resolve(value?.image ?? null),
      )
    );
  } finally {
    client.close();
  }
}
