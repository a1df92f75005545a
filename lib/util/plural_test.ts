import assert from "node:assert/strict";
import { plural } from "./plural.ts";

Deno.test("plural() agrees the noun with the count", () => {
  assert.equal(plural(0, "tagged image"), "0 tagged images");
  assert.equal(plural(1, "tagged image"), "1 tagged image");
  assert.equal(plural(2, "workload"), "2 workloads");
  assert.equal(plural(1, "DaemonSet"), "1 DaemonSet");
  assert.equal(plural(1, "library", "libraries"), "1 library");
  assert.equal(plural(7, "library", "libraries"), "7 libraries");
});
