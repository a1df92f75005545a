import assert from "node:assert/strict";
import { fileHeader } from "./moby_archive.ts";
import { indexTar, readSmallMember } from "./tar_index.ts";

Deno.test("the headers the archive is written with read back as the members they describe", async () => {
  const name = `blobs/sha256/${"e".repeat(64)}`;
  const content = new TextEncoder().encode("x".repeat(700));
  const parts = [
    fileHeader(name, content.length),
    content,
    new Uint8Array(1024 - 700),
    new Uint8Array(1024),
  ];
  const path = await Deno.makeTempFile();
  await Deno.writeFile(path, new Uint8Array(parts.flatMap((p) => [...p])));
  using file = await Deno.open(path);
  const members = await indexTar(file);
  assert.deepEqual([...members.keys()], [name]);
  assert.equal(
    new TextDecoder().decode(await readSmallMember(file, members.get(name)!)),
    "x".repeat(700),
  );
  // And the system's tar agrees (the checksum is right).
  const listed = await new Deno.Command("tar", { args: ["-tvf", path] }).output();
  assert.ok(listed.success, new TextDecoder().decode(listed.stderr));
  assert.match(new TextDecoder().decode(listed.stdout), new RegExp(`700 .*${name}`));
  await Deno.remove(path);
});
