import assert from "node:assert/strict";
import {
  DEFAULT_ENGINE_SET,
  ENGINE_SET_VARIABLE,
  enginesBuilt,
  enginesDir,
  engineSet,
  engineVersions,
} from "./engines.ts";

function withEngineSet<T>(value: string | undefined, fn: () => T): T {
  const before = Deno.env.get(ENGINE_SET_VARIABLE);
  if (value === undefined) Deno.env.delete(ENGINE_SET_VARIABLE);
  else Deno.env.set(ENGINE_SET_VARIABLE, value);
  try {
    return fn();
  } finally {
    if (before === undefined) Deno.env.delete(ENGINE_SET_VARIABLE);
    else Deno.env.set(ENGINE_SET_VARIABLE, before);
  }
}

Deno.test("engineSet() is what VFP_TEST_ENGINES says, else the default", () => {
  assert.equal(withEngineSet(undefined, engineSet), DEFAULT_ENGINE_SET);
  assert.equal(withEngineSet("", engineSet), DEFAULT_ENGINE_SET);
  assert.equal(withEngineSet("today", engineSet), "today");
  assert.equal(withEngineSet("compat", engineSet), "compat");
});

Deno.test("engineSet() names the variable and the choices for any other value", () => {
  assert.throws(
    () => withEngineSet("docker20", engineSet),
    /^Error: VFP_TEST_ENGINES="docker20" names no engine set: use "today" or "compat"$/,
  );
});

Deno.test("the engines' cache directory is named by every pinned version", () => {
  const pins = engineVersions();
  const name = enginesDir().split("/").at(-1) ?? "";
  for (const key of ["DOCKER_VERSION", "DOCKER_CLI_VERSION", "BUILDX_VERSION"]) {
    assert.match(pins[key] ?? "", /^\d+\.\d+\.\d+$/, key);
  }
  assert.equal(
    name,
    `docker-${pins.DOCKER_VERSION}-cli-${pins.DOCKER_CLI_VERSION}-buildx-${pins.BUILDX_VERSION}` +
      `-containerd-${pins.CONTAINERD_VERSION}-runc-${pins.RUNC_VERSION}`,
  );
});

Deno.test("enginesBuilt() takes only a complete build: the stamp naming its versions", () => {
  const cache = Deno.makeTempDirSync();
  const before = Deno.env.get("XDG_CACHE_HOME");
  Deno.env.set("XDG_CACHE_HOME", cache);
  try {
    const dir = enginesDir();
    assert.ok(dir.startsWith(`${cache}/veryfreshpod/engines/`));
    assert.equal(enginesBuilt(), false, "nothing built");
    Deno.mkdirSync(dir, { recursive: true });
    assert.equal(enginesBuilt(), false, "an interrupted build has no stamp");
    Deno.writeTextFileSync(`${dir}/stamp`, "docker-28.0.0-cli-28.0.0\n");
    assert.equal(enginesBuilt(), false, "a stamp of other versions");
    Deno.writeTextFileSync(`${dir}/stamp`, `${dir.split("/").at(-1)}\n`);
    assert.equal(enginesBuilt(), true);
  } finally {
    if (before === undefined) Deno.env.delete("XDG_CACHE_HOME");
    else Deno.env.set("XDG_CACHE_HOME", before);
    Deno.removeSync(cache, { recursive: true });
  }
});
