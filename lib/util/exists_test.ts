import assert from "node:assert/strict";
import { exists } from "./exists.ts";

Deno.test("exists() follows links unless told not to; a dangling link exists only as itself", () => {
  const dir = Deno.makeTempDirSync({ prefix: "vfp-exists-" });
  try {
    Deno.writeTextFileSync(`${dir}/file`, "");
    Deno.symlinkSync(`${dir}/file`, `${dir}/link`);
    Deno.symlinkSync(`${dir}/gone`, `${dir}/dangling`);
    assert.equal(exists(`${dir}/file`), true);
    assert.equal(exists(`${dir}/link`), true);
    assert.equal(exists(`${dir}/dangling`), false);
    assert.equal(exists(`${dir}/dangling`, { followLinks: false }), true);
    assert.equal(exists(`${dir}/gone`, { followLinks: false }), false);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
