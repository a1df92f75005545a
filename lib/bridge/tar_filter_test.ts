import assert from "node:assert/strict";
import { writeTar } from "../install/tar.ts";
import { dropTarMembers, type TarFilterTally } from "./tar_filter.ts";
import { indexTar, readSmallMember } from "./tar_index.ts";

const encoder = new TextEncoder();
const HELD = `blobs/sha256/${"a".repeat(64)}`;
const NEW = `blobs/sha256/${"b".repeat(64)}`;
const LONG = `blobs/${"deep/".repeat(30)}${"c".repeat(64)}`;

/** An OCI-layout-like archive: a held blob, a new one, a long (PAX) name, the index. */
function archive(): Uint8Array {
  const file = (path: string, content: string) => ({
    path,
    type: "file" as const,
    mode: 0o644,
    bytes: encoder.encode(content),
  });
  return writeTar([
    file("oci-layout", '{"imageLayoutVersion":"1.0.0"}'),
    file(HELD, "x".repeat(1500)),
    file(LONG, "long"),
    file(NEW, "y".repeat(700)),
    file("index.json", "{}"),
  ]);
}

/** `bytes` in chunks of `size`. */
async function* chunked(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.slice(at, at + size);
}

async function members(chunks: AsyncIterable<Uint8Array>): Promise<Map<string, string>> {
  const parts: Uint8Array[] = [];
  for await (const chunk of chunks) parts.push(chunk.slice());
  const path = await Deno.makeTempFile();
  await Deno.writeFile(path, new Uint8Array(parts.flatMap((p) => [...p])));
  using file = await Deno.open(path);
  const index = await indexTar(file);
  const out = new Map<string, string>();
  for (const [name, member] of index) {
    out.set(name, new TextDecoder().decode(await readSmallMember(file, member)));
  }
  await Deno.remove(path);
  return out;
}

Deno.test("the members the node holds are left out, whatever the chunk sizes; the rest is intact", async () => {
  for (const size of [1, 7, 512, 513, 1 << 20]) {
    const tally: TarFilterTally = { dropped: 0, droppedBytes: 0, kept: 0, keptBytes: 0 };
    const kept = await members(
      dropTarMembers(
        chunked(archive(), size),
        (name) => name === HELD || name === LONG,
        tally,
        (name) => name.startsWith("blobs/"),
      ),
    );
    assert.deepEqual([...kept.keys()], ["oci-layout", NEW, "index.json"], `chunks of ${size}`);
    assert.equal(kept.get(NEW), "y".repeat(700));
    assert.deepEqual(tally, { dropped: 2, droppedBytes: 1504, kept: 1, keptBytes: 700 });
  }
});

Deno.test("dropping nothing gives the archive back byte for byte", async () => {
  const tally: TarFilterTally = { dropped: 0, droppedBytes: 0, kept: 0, keptBytes: 0 };
  const parts: number[] = [];
  for await (const chunk of dropTarMembers(chunked(archive(), 100), () => false, tally)) {
    parts.push(...chunk);
  }
  assert.deepEqual(new Uint8Array(parts), archive());
});

Deno.test("a stream that is no tar is passed on as it is", async () => {
  const garbage = encoder.encode("not a tar at all");
  const tally: TarFilterTally = { dropped: 0, droppedBytes: 0, kept: 0, keptBytes: 0 };
  const parts: number[] = [];
  for await (const chunk of dropTarMembers(chunked(garbage, 3), () => true, tally)) {
    parts.push(...chunk);
  }
  assert.deepEqual(new Uint8Array(parts), garbage);
});
