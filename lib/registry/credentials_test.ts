import assert from "node:assert/strict";
import { authsKeyHost, dockerConfigPath, lookupCredentials } from "./credentials.ts";

function configDir(config: unknown): string {
  const dir = Deno.makeTempDirSync({ prefix: "vfp-docker-config-" });
  Deno.writeTextFileSync(`${dir}/config.json`, JSON.stringify(config));
  return dir;
}

function envWith(dir: string) {
  return (name: string) => (name === "DOCKER_CONFIG" ? dir : undefined);
}

Deno.test("the config path: DOCKER_CONFIG, else ~/.docker", () => {
  assert.equal(dockerConfigPath((n) => ({ DOCKER_CONFIG: "/c", HOME: "/h" })[n]), "/c/config.json");
  assert.equal(dockerConfigPath((n) => ({ HOME: "/h" })[n]), "/h/.docker/config.json");
});

Deno.test("auths keys match by host, with or without scheme and path", () => {
  assert.equal(authsKeyHost("https://index.docker.io/v1/"), "index.docker.io");
  assert.equal(authsKeyHost("http://LocalHost:5001"), "localhost:5001");
  assert.equal(authsKeyHost("registry.example.com"), "registry.example.com");
});

Deno.test("auths: base64 auth, and username/password", async () => {
  const dir = configDir({
    auths: {
      "https://reg.example.com/v1/": { auth: btoa("alice:s3cret:with:colons") },
      "localhost:5001": { username: "bob", password: "pw" },
    },
  });
  const a = await lookupCredentials("reg.example.com", { env: envWith(dir) });
  assert.deepEqual(a.credentials, { username: "alice", password: "s3cret:with:colons" });
  assert.equal(a.source, `auths["https://reg.example.com/v1/"] in ${dir}/config.json`);
  const b = await lookupCredentials("localhost:5001", { env: envWith(dir) });
  assert.deepEqual(b.credentials, { username: "bob", password: "pw" });
  const none = await lookupCredentials("other:5000", { env: envWith(dir) });
  assert.equal(none.credentials, undefined);
  assert.equal(none.source, `no auths entry for other:5000 in ${dir}/config.json`);
});

Deno.test("credHelpers win over credsStore, which wins over auths", async () => {
  const dir = configDir({
    credsStore: "desktop",
    credHelpers: { "gcr.example.com": "gcloud" },
    auths: { "gcr.example.com": { auth: btoa("file:file") }, "x.example.com": {} },
  });
  const asked: string[] = [];
  const runHelper = (program: string, host: string) => {
    asked.push(`${program} ${host}`);
    if (host === "none.example.com") return Promise.resolve("");
    return Promise.resolve(JSON.stringify({ ServerURL: host, Username: program, Secret: "t" }));
  };
  const env = envWith(dir);
  const gcr = await lookupCredentials("gcr.example.com", { env, runHelper });
  assert.deepEqual(gcr.credentials, { username: "docker-credential-gcloud", password: "t" });
  assert.equal(gcr.source, `docker-credential-gcloud (credHelpers in ${dir}/config.json)`);
  const x = await lookupCredentials("x.example.com", { env, runHelper });
  assert.equal(x.credentials?.username, "docker-credential-desktop");
  assert.equal(x.source, `docker-credential-desktop (credsStore in ${dir}/config.json)`);
  const none = await lookupCredentials("none.example.com", { env, runHelper });
  assert.equal(none.credentials, undefined);
  assert.match(none.source, /which has none$/);
  assert.deepEqual(asked, [
    "docker-credential-gcloud gcr.example.com",
    "docker-credential-desktop x.example.com",
    "docker-credential-desktop none.example.com",
  ]);
});

Deno.test("no config: no credentials, and the source says where it looked", async () => {
  const dir = Deno.makeTempDirSync();
  const found = await lookupCredentials("h:1", { env: envWith(dir) });
  assert.deepEqual(found, {
    credentials: undefined,
    source: `no docker config at ${dir}/config.json`,
  });
});

Deno.test("a config that is not JSON, or a helper not installed: one line naming the fix", async () => {
  const dir = Deno.makeTempDirSync();
  Deno.writeTextFileSync(`${dir}/config.json`, "{ nope");
  await assert.rejects(
    lookupCredentials("h:1", { env: envWith(dir) }),
    new RegExp(
      `^Error: the docker config ${dir}/config.json is not a JSON object; fix or remove it$`,
    ),
  );
  const helperDir = configDir({ credsStore: "vfp-missing-helper" });
  await assert.rejects(
    lookupCredentials("h:1", { env: envWith(helperDir) }),
    /docker-credential-vfp-missing-helper is not on PATH; install it or change the docker config/,
  );
});
