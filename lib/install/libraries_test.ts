import assert from "node:assert/strict";
import { UserError } from "../util/errors.ts";
import { configuredDirs, resolveClosure } from "./libraries.ts";
import { fakeElf, writeTree } from "../testing/fake_elf.ts";

const INTERP = "/lib64/ld-linux-x86-64.so.2";

async function tree(files: Record<string, Uint8Array | string>): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "vfp-libs-" });
  await writeTree(root, files);
  return root;
}

function paths(closure: ReturnType<typeof resolveClosure>): string[] {
  return closure.libraries.map((lib) => lib.path).sort();
}

Deno.test("libraries are found through RUNPATH with $ORIGIN, ld.so.conf includes and the multiarch directory", async () => {
  const root = await tree({
    "/app/bin/tool": fakeElf({
      interpreter: INTERP,
      needed: ["libfoo.so.1", "libc.so.6"],
      runpath: "$ORIGIN/../lib",
    }),
    "/app/lib/libfoo.so.1": fakeElf({ needed: ["libbar.so.2", "libc.so.6"] }),
    "/etc/ld.so.conf": "# comment\ninclude /etc/ld.so.conf.d/*.conf\n",
    "/etc/ld.so.conf.d/bar.conf": "/opt/bar/lib\n",
    "/etc/ld.so.conf.d/readme.txt": "/not/this\n",
    "/opt/bar/lib/libbar.so.2": fakeElf({ needed: ["libc.so.6"] }),
    "/lib/x86_64-linux-gnu/libc.so.6": fakeElf(),
    [INTERP]: fakeElf(),
  });
  const closure = resolveClosure("/app/bin/tool", { root });
  assert.deepEqual(paths(closure), [
    "/app/lib/libfoo.so.1",
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/opt/bar/lib/libbar.so.2",
  ]);
  assert.equal(closure.interpreter?.path, INTERP);
  await Deno.remove(root, { recursive: true });
});

Deno.test("a library of another architecture is skipped, as the loader skips it", async () => {
  const root = await tree({
    "/bin/tool": fakeElf({ needed: ["libz.so.1"], rpath: "/wrong" }),
    "/wrong/libz.so.1": fakeElf({ bits: 32, machine: 3 }),
    "/usr/lib/x86_64-linux-gnu/libz.so.1": fakeElf(),
  });
  assert.deepEqual(paths(resolveClosure("/bin/tool", { root })), [
    "/usr/lib/x86_64-linux-gnu/libz.so.1",
  ]);
  await Deno.remove(root, { recursive: true });
});

Deno.test("DT_RPATH is ignored when the object has DT_RUNPATH", async () => {
  const root = await tree({
    "/bin/tool": fakeElf({ needed: ["liba.so"], rpath: "/rpath", runpath: "/runpath" }),
    "/rpath/liba.so": fakeElf(),
    "/runpath/liba.so": fakeElf(),
  });
  assert.deepEqual(paths(resolveClosure("/bin/tool", { root })), ["/runpath/liba.so"]);
  await Deno.remove(root, { recursive: true });
});

Deno.test("a missing library is a one-line error naming it and where it was looked for", async () => {
  const root = await tree({ "/bin/tool": fakeElf({ needed: ["libgone.so.3"] }) });
  assert.throws(() => resolveClosure("/bin/tool", { root }), (error: unknown) => {
    assert.ok(error instanceof UserError);
    assert.match(error.message, /^Cannot find the library "libgone\.so\.3" that tool needs/);
    assert.match(error.message, /\/lib\/x86_64-linux-gnu/);
    assert.doesNotMatch(error.message, /\n/);
    return true;
  });
  await Deno.remove(root, { recursive: true });
});

Deno.test("an unreadable executable is a one-line error naming the fix", async () => {
  const root = await tree({ "/dir/file": "x" });
  for (const [path, why] of [["/nothing", "no such file"], ["/dir", "it is a directory"]]) {
    assert.throws(() => resolveClosure(path!, { root }), (error: unknown) => {
      assert.ok(error instanceof UserError);
      assert.match(error.message, new RegExp(`^Cannot read the executable ".*${path}": ${why}`));
      assert.match(error.message, /--executable .* or --image$/);
      return true;
    });
  }
  await Deno.remove(root, { recursive: true });
});

Deno.test("a file that is not an ELF executable is a one-line error naming the fix", async () => {
  const root = await tree({ "/bin/script": "#!/bin/sh\necho this is a shell script, not ELF\n" });
  assert.throws(() => resolveClosure("/bin/script", { root }), (error: unknown) => {
    assert.ok(error instanceof UserError);
    assert.match(error.message, /^"\/bin\/script" is not a Linux executable \(no ELF magic/);
    return true;
  });
  await Deno.remove(root, { recursive: true });
});

Deno.test("a missing ELF interpreter is a one-line error", async () => {
  const root = await tree({ "/bin/tool": fakeElf({ interpreter: "/lib/ld-gone.so" }) });
  assert.throws(() => resolveClosure("/bin/tool", { root }), /Cannot read the ELF interpreter/);
  await Deno.remove(root, { recursive: true });
});

Deno.test("ld.so.conf files are read with relative includes, several directories a line, and loops cut", async () => {
  const root = await tree({
    "/etc/ld.so.conf": "include ld.so.conf.d/*.conf\n/usr/local/lib\n",
    "/etc/ld.so.conf.d/a.conf": "/a1 /a2:/a3\nhwcap 1 nosegneg\ninclude /etc/ld.so.conf\n",
    "/etc/ld.so.conf.d/b.conf": "/b=libc6\n",
  });
  assert.deepEqual(configuredDirs(root, "/etc/ld.so.conf"), [
    "/a1",
    "/a2",
    "/a3",
    "/b",
    "/usr/local/lib",
  ]);
  assert.deepEqual(configuredDirs(root, "/etc/none.conf"), []);
  await Deno.remove(root, { recursive: true });
});

Deno.test("the Deno executable's closure on this host holds its interpreter and libc", () => {
  const closure = resolveClosure(Deno.execPath());
  assert.ok(closure.interpreter !== undefined);
  assert.ok(closure.libraries.some((lib) => lib.path.endsWith("/libc.so.6")));
});
