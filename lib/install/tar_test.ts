import assert from "node:assert/strict";
import { utf8Head, utf8Tail, writeTar } from "./tar.ts";

const text = (value: string) => new TextEncoder().encode(value);

/** Extracts `archive` with the system's tar into a fresh directory. */
async function extract(archive: Uint8Array): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "vfp-tar-" });
  await Deno.writeFile(`${dir}.tar`, archive);
  const result = await new Deno.Command("tar", {
    args: ["-xf", `${dir}.tar`, "-C", dir, "--no-same-owner"],
    stderr: "piped",
  }).output();
  assert.ok(result.success, new TextDecoder().decode(result.stderr));
  await Deno.remove(`${dir}.tar`);
  return dir;
}

Deno.test("files, directories and symlinks come out of the archive as they went in", async () => {
  const archive = writeTar([
    { path: "/usr/", type: "directory", mode: 0o755 },
    { path: "/usr/bin", type: "directory", mode: 0o750 },
    { path: "/usr/bin/tool", type: "file", mode: 0o755, bytes: text("#!binary\n") },
    { path: "/etc/hello", type: "file", mode: 0o640, bytes: new Uint8Array(1000).fill(65) },
    { path: "/empty", type: "file", mode: 0o600 },
    { path: "/usr/bin/link", type: "symlink", mode: 0o777, target: "tool" },
  ]);
  assert.equal(archive.length % 512, 0);
  const dir = await extract(archive);
  assert.equal(await Deno.readTextFile(`${dir}/usr/bin/tool`), "#!binary\n");
  assert.equal((await Deno.stat(`${dir}/usr/bin/tool`)).mode! & 0o777, 0o755);
  assert.equal((await Deno.stat(`${dir}/usr/bin`)).mode! & 0o777, 0o750);
  assert.equal((await Deno.readFile(`${dir}/etc/hello`)).length, 1000);
  assert.equal((await Deno.stat(`${dir}/etc/hello`)).mode! & 0o777, 0o640);
  assert.equal((await Deno.readFile(`${dir}/empty`)).length, 0);
  assert.equal(await Deno.readLink(`${dir}/usr/bin/link`), "tool");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("long and non-ASCII paths and long link targets survive through ustar prefixes and PAX headers", async () => {
  const deep = `${"d".repeat(90)}/${"e".repeat(90)}/${"f".repeat(90)}`;
  const prefixed = `${"p".repeat(120)}/${"n".repeat(90)}`;
  const archive = writeTar([
    { path: `${prefixed}`, type: "file", mode: 0o644, bytes: text("prefix") },
    { path: `${deep}/file.txt`, type: "file", mode: 0o644, bytes: text("pax") },
    { path: "/ünïcode.txt", type: "file", mode: 0o644, bytes: text("utf-8") },
    { path: "/link", type: "symlink", mode: 0o777, target: `/${"t".repeat(150)}` },
  ]);
  const dir = await extract(archive);
  assert.equal(await Deno.readTextFile(`${dir}/${prefixed}`), "prefix");
  assert.equal(await Deno.readTextFile(`${dir}/${deep}/file.txt`), "pax");
  assert.equal(await Deno.readTextFile(`${dir}/ünïcode.txt`), "utf-8");
  assert.equal(await Deno.readLink(`${dir}/link`), `/${"t".repeat(150)}`);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("non-ASCII paths longer than a ustar field are cut by bytes, not UTF-16 units", async () => {
  // 60 three-byte characters: 60 UTF-16 units, 180 bytes, more than the 100-byte name field.
  const name = "ж€".repeat(30);
  const emoji = "😀".repeat(40); // surrogate pairs: never cut in half
  const archive = writeTar([
    { path: `/${name}.txt`, type: "file", mode: 0o644, bytes: text("long") },
    { path: `/d/${emoji}`, type: "file", mode: 0o644, bytes: text("emoji") },
  ]);
  const dir = await extract(archive);
  assert.equal(await Deno.readTextFile(`${dir}/${name}.txt`), "long");
  assert.equal(await Deno.readTextFile(`${dir}/d/${emoji}`), "emoji");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("utf8Head() and utf8Tail() keep whole characters within the byte budget", () => {
  assert.equal(utf8Head("aé€😀", 6), "aé€");
  assert.equal(utf8Head("aé€😀", 5), "aé");
  assert.equal(utf8Tail("aé€😀", 7), "€😀");
  assert.equal(utf8Tail("aé€😀", 6), "😀");
  assert.equal(utf8Tail("abc", 99), "abc");
});

Deno.test("the same entries make the same archive", () => {
  const entries = [{ path: "/a", type: "file" as const, mode: 0o644, bytes: text("x") }];
  assert.deepEqual(writeTar(entries), writeTar(entries));
});

Deno.test("an entry without a path is refused", () => {
  assert.throws(() => writeTar([{ path: "/", type: "directory", mode: 0o755 }]), /needs a path/);
});
