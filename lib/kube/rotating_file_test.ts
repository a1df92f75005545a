import assert from "node:assert/strict";
import { fileOrText, RotatingFile } from "./rotating_file.ts";

Deno.test("RotatingFile reads the file again after a minute, and keeps the last text while it is gone", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/ca.crt`;
    await Deno.writeTextFile(path, "CA 2");
    let now = 0;
    const file = new RotatingFile(path, "CA 1", () => now);
    assert.equal(file.current(), "CA 1", "what was loaded, until a minute passed");
    now = 60_000;
    assert.equal(file.current(), "CA 2");
    await Deno.remove(path);
    now = 120_000;
    assert.equal(file.current(), "CA 2", "mid-rotation: the last good text");
    await Deno.writeTextFile(path, "CA 3");
    assert.equal(file.current(true), "CA 3", "forced");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fileOrText() is the fixed text when there is no file", () => {
  assert.equal(fileOrText(undefined, "inline", () => 0)(), "inline");
  assert.equal(fileOrText(undefined, undefined, () => 0)(), undefined);
});
