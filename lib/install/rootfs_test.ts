import assert from "node:assert/strict";
import { buildRootfs, byteOrder, treeEntries } from "./rootfs.ts";
import { fakeElf, writeTree } from "../testing/fake_elf.ts";

async function list(archive: Uint8Array): Promise<string[]> {
  const file = await Deno.makeTempFile({ suffix: ".tar" });
  await Deno.writeFile(file, archive);
  const result = await new Deno.Command("tar", { args: ["-tvf", file], stdout: "piped" }).output();
  await Deno.remove(file);
  assert.ok(result.success);
  return new TextDecoder().decode(result.stdout).trim().split("\n");
}

Deno.test("the root filesystem holds the executable, its interpreter and libraries, /tmp and /etc", async () => {
  const root = await Deno.makeTempDir({ prefix: "vfp-rootfs-" });
  await writeTree(root, {
    "/opt/vfp/veryfreshpod": fakeElf({
      interpreter: "/lib64/ld-linux-x86-64.so.2",
      needed: ["libc.so.6", "libextra.so"],
      runpath: "/opt/vfp/lib",
    }),
    "/opt/vfp/lib/libextra.so": fakeElf({ needed: ["libc.so.6"] }),
    "/lib/x86_64-linux-gnu/libc.so.6": fakeElf(),
    "/lib64/ld-linux-x86-64.so.2": fakeElf(),
  });
  const rootfs = buildRootfs({ executable: "/opt/vfp/veryfreshpod", root });
  assert.equal(rootfs.entrypoint, "/usr/local/bin/veryfreshpod");
  assert.equal(rootfs.architecture, "amd64");
  assert.deepEqual(rootfs.env, ["LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/opt/vfp/lib"]);
  assert.deepEqual(rootfs.files.toSorted(), [
    "/etc/group",
    "/etc/passwd",
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/lib64/ld-linux-x86-64.so.2",
    "/opt/vfp/lib/libextra.so",
    "/usr/local/bin/veryfreshpod",
  ]);
  // The digest, hashed once at build, is the archive's (checked here with another SHA-256).
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", rootfs.tar));
  assert.equal(
    rootfs.digest,
    `sha256:${Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("")}`,
  );
  const listing = await list(rootfs.tar);
  assert.ok(listing.some((line) => /^drwxrwxrwt .* tmp\/$/.test(line)), listing.join("\n"));
  assert.ok(listing.some((line) => /^-rwxr-xr-x .* usr\/local\/bin\/veryfreshpod$/.test(line)));
  await Deno.remove(root, { recursive: true });
});

Deno.test("a static executable needs no library path, and keeps the name it is given", async () => {
  const root = await Deno.makeTempDir({ prefix: "vfp-rootfs-" });
  await writeTree(root, { "/bin/static": fakeElf({ machine: 183 }) });
  const rootfs = buildRootfs({ executable: "/bin/static", name: "busybox", root });
  assert.equal(rootfs.entrypoint, "/usr/local/bin/busybox");
  assert.deepEqual(rootfs.env, []);
  assert.equal(rootfs.architecture, "arm64");
  await Deno.remove(root, { recursive: true });
});

Deno.test("the tree's order is the paths' bytes, whatever the locale", () => {
  // A locale sorts "a" before "B" and ignores "_"; byte order puts "B" (0x42) before "_" and "a".
  const files = new Map(
    ["/lib/liba.so", "/lib/libB.so", "/lib/lib_c.so", "/lib/libé.so"].map((path) => [
      path,
      new Uint8Array(),
    ]),
  );
  const paths = treeEntries(files, ["/tmp", "/Z", "/a"]).map((entry) => entry.path);
  assert.deepEqual(paths, [
    "/Z",
    "/a",
    "/lib",
    "/tmp",
    "/lib/libB.so",
    "/lib/lib_c.so",
    "/lib/liba.so",
    "/lib/libé.so",
  ]);
  // UTF-16 order differs from UTF-8 byte order for characters past U+FFFF: 😀 (F0…) after ｚ (EF…).
  assert.ok(byteOrder("\u{ff5a}", "😀") < 0);
  assert.ok(byteOrder("ab", "a") > 0);
});
