/**
 * The embedded descriptor (containerd_proto.ts) against containerd's own
 * .proto files (third_party/containerd): every service, method, message,
 * field and enum value written by hand must exist there with the same number,
 * name, cardinality and type. Both sides are read the same way: from the
 * file descriptors @grpc/proto-loader hands to grpc-js, rebuilt as protobufjs
 * reflection objects.
 */
import assert from "node:assert/strict";
import type { MethodDefinition } from "@grpc/proto-loader";
import protobuf from "protobufjs";
// A CommonJS module: Deno sees its exports only as the default export. Loading it also
// gives protobuf.Root its fromDescriptor.
import descriptorExtension from "protobufjs/ext/descriptor/index.js";
import * as embedded from "./containerd_proto.ts";
import { vendoredContainerdApi } from "./containerd_vendored_api.ts";

/**
 * Messages the embedded descriptor names as containerd 1.x did: 2.x moved the
 * envelope to containerd.types with the same fields (the wire never carries
 * the name).
 */
const RENAMED: Record<string, string> = {
  ".containerd.services.events.v1.Envelope": ".containerd.types.Envelope",
};

/** The protobufjs root of the files a loaded definition was built from. */
function rootOf(fileDescriptorProtos: Uint8Array[]): protobuf.Root {
  const { FileDescriptorProto } = descriptorExtension as unknown as {
    FileDescriptorProto: protobuf.Type;
  };
  const file = fileDescriptorProtos.map((bytes) => FileDescriptorProto.decode(bytes));
  const fromDescriptor = (protobuf.Root as unknown as {
    fromDescriptor(set: { file: unknown[] }): protobuf.Root;
  }).fromDescriptor;
  const root = fromDescriptor({ file });
  root.resolveAll();
  return root;
}

function embeddedRoot(): protobuf.Root {
  const method = Object.values(embedded as Record<string, unknown>).find((
    value,
  ): value is MethodDefinition<object, object> =>
    typeof value === "object" && value !== null && "path" in value
  );
  assert.ok(method, "containerd_proto.ts exports no method");
  return rootOf(method.requestType.fileDescriptorProtos as Uint8Array[]);
}

function vendoredRoot(): protobuf.Root {
  const type = vendoredContainerdApi()["containerd.types.Descriptor"];
  assert.ok(type && "fileDescriptorProtos" in type, "no containerd.types.Descriptor vendored");
  return rootOf(type.fileDescriptorProtos as Uint8Array[]);
}

/** Every type, enum and service below `namespace`. */
function* walk(namespace: protobuf.NamespaceBase): Generator<protobuf.ReflectionObject> {
  for (const child of namespace.nestedArray) {
    yield child;
    if (child instanceof protobuf.Namespace || child instanceof protobuf.Type) yield* walk(child);
  }
}

/** The name a field's JavaScript property gets from the loader (camelCase). */
const camel = (name: string) =>
  name.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());

function typeName(field: protobuf.Field): string {
  const name = field.resolvedType?.fullName ?? field.type;
  return RENAMED[name] ?? name;
}

/** What the embedded root says that the vendored one does not, one line each. */
function differences(mine: protobuf.Root, theirs: protobuf.Root): string[] {
  const found: string[] = [];
  for (const object of walk(mine)) {
    const name = RENAMED[object.fullName] ?? object.fullName;
    const other = theirs.lookup(name);
    if (object instanceof protobuf.Type) {
      if (!(other instanceof protobuf.Type)) {
        found.push(`message ${name} is not in containerd's API`);
        continue;
      }
      for (const field of object.fieldsArray) {
        const where = `${name}.${field.name} = ${field.id}`;
        const match = other.fieldsById[field.id];
        if (match === undefined) found.push(`${where}: no field ${field.id} there`);
        else if (camel(match.name) !== field.name) {
          found.push(`${where}: named ${match.name} there`);
        } else if (match.repeated !== field.repeated) found.push(`${where}: repeated differs`);
        else if (typeName(match) !== typeName(field)) {
          found.push(`${where}: ${typeName(field)}, but ${typeName(match)} there`);
        }
      }
    } else if (object instanceof protobuf.Enum) {
      if (!(other instanceof protobuf.Enum)) found.push(`enum ${name} is not in containerd's API`);
      else {
        for (const [value, number] of Object.entries(object.values)) {
          if (other.values[value] !== number) found.push(`${name}.${value} = ${number} differs`);
        }
      }
    } else if (object instanceof protobuf.Service) {
      if (!(other instanceof protobuf.Service)) {
        found.push(`service ${name} is not in containerd's API`);
        continue;
      }
      for (const method of object.methodsArray) {
        const where = `${name}/${method.name}`;
        const match = other.methods[method.name];
        method.resolve();
        match?.resolve();
        if (match === undefined) found.push(`${where} is not there`);
        else if (
          match.requestStream !== method.requestStream ||
          match.responseStream !== method.responseStream
        ) found.push(`${where}: streaming differs`);
        else {
          for (const side of ["resolvedRequestType", "resolvedResponseType"] as const) {
            const a = method[side]?.fullName ?? "";
            const b = match[side]?.fullName ?? "";
            if ((RENAMED[a] ?? a) !== b) found.push(`${where}: ${a}, but ${b} there`);
          }
        }
      }
    }
  }
  return found;
}

Deno.test("the embedded containerd descriptor matches containerd's .proto files field by field", () => {
  const mine = embeddedRoot();
  assert.deepEqual(differences(mine, vendoredRoot()), []);
  // Every method the client calls was compared.
  const services = [...walk(mine)].filter((o) => o instanceof protobuf.Service);
  assert.ok(services.length >= 5, `only ${services.length} services compared`);
});

Deno.test("the comparison finds a wrong number, name, type or method", () => {
  const mine = embeddedRoot();
  const descriptor = mine.lookupType("containerd.types.Descriptor");
  descriptor.remove(descriptor.fields.size!);
  descriptor.add(new protobuf.Field("size", 4, "int64"));
  descriptor.remove(descriptor.fields.digest!);
  descriptor.add(new protobuf.Field("hash", 2, "string"));
  const image = mine.lookupType("containerd.services.images.v1.Image");
  image.remove(image.fields.name!);
  image.add(new protobuf.Field("name", 1, "bytes"));
  mine.lookupService("containerd.services.images.v1.Images").add(
    new protobuf.Method("Frobnicate", "rpc", "GetImageRequest", "GetImageResponse"),
  );
  mine.resolveAll();
  assert.deepEqual(differences(mine, vendoredRoot()).sort(), [
    ".containerd.services.images.v1.Image.name = 1: bytes, but string there",
    ".containerd.services.images.v1.Images/Frobnicate is not there",
    ".containerd.types.Descriptor.hash = 2: named digest there",
    ".containerd.types.Descriptor.size = 4: no field 4 there",
  ]);
});
