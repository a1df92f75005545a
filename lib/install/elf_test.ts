import assert from "node:assert/strict";
import { isElf, NotElfError, parseElf } from "./elf.ts";
import { fakeElf } from "../testing/fake_elf.ts";

Deno.test("the Deno executable names its interpreter and libc", () => {
  const elf = parseElf(Deno.readFileSync(Deno.execPath()));
  assert.equal(elf.bits, 64);
  assert.equal(elf.littleEndian, true);
  assert.match(elf.interpreter ?? "", /^\/lib.*\/ld-linux-(x86-64\.so\.2|aarch64\.so\.1)$/);
  assert.ok(elf.needed.includes("libc.so.6"), elf.needed.join(", "));
});

Deno.test("a 64-bit little-endian file yields its interpreter, needed libraries and paths", () => {
  const elf = parseElf(fakeElf({
    interpreter: "/lib64/ld-linux-x86-64.so.2",
    needed: ["libfoo.so.1", "libc.so.6"],
    rpath: "/opt/a:/opt/b",
    runpath: "$ORIGIN/../lib",
  }));
  assert.deepEqual(elf, {
    bits: 64,
    littleEndian: true,
    machine: 62,
    type: 2,
    interpreter: "/lib64/ld-linux-x86-64.so.2",
    needed: ["libfoo.so.1", "libc.so.6"],
    rpath: ["/opt/a", "/opt/b"],
    runpath: ["$ORIGIN/../lib"],
  });
});

Deno.test("a 32-bit big-endian file is read too", () => {
  const elf = parseElf(fakeElf({ bits: 32, littleEndian: false, machine: 8, needed: ["libx.so"] }));
  assert.equal(elf.bits, 32);
  assert.equal(elf.littleEndian, false);
  assert.equal(elf.machine, 8);
  assert.deepEqual(elf.needed, ["libx.so"]);
  assert.equal(elf.interpreter, undefined);
});

Deno.test("a static executable has no interpreter and needs nothing", () => {
  const elf = parseElf(fakeElf());
  assert.equal(elf.interpreter, undefined);
  assert.deepEqual(elf.needed, []);
});

Deno.test("a file that is not ELF is refused with the reason", () => {
  const script = new TextEncoder().encode("#!/bin/sh\necho hi\n".repeat(10));
  assert.equal(isElf(script), false);
  assert.throws(() => parseElf(script), (error: unknown) => {
    assert.ok(error instanceof NotElfError);
    assert.match(error.reason, /no ELF magic/);
    return true;
  });
});

Deno.test("a truncated ELF file is refused instead of read past its end", () => {
  const whole = fakeElf({ interpreter: "/lib/ld.so", needed: ["liba.so"] });
  for (const length of [8, 60, 100, whole.length - 20]) {
    assert.throws(() => parseElf(whole.subarray(0, length)), NotElfError, `length ${length}`);
  }
});
