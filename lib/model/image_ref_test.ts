import assert from "node:assert/strict";
import {
  imageKey,
  InvalidReferenceError,
  isValidTag,
  parseReference,
  splitImageKey,
  withTag,
} from "./image_ref.ts";

const HEX64 = "a".repeat(64);
const DIGEST = `sha256:${"0123456789abcdef".repeat(4)}`;

// deno-fmt-ignore
const VALID: [text: string, domain: string, path: string, tag?: string, digest?: string][] = [
  ["app",                                "docker.io",      "library/app"],
  ["app:latest",                         "docker.io",      "library/app", "latest"],
  ["docker.io/library/app",              "docker.io",      "library/app"],
  ["index.docker.io/library/app:latest", "docker.io",      "library/app", "latest"],
  ["docker.io/app:v1",                   "docker.io",      "library/app", "v1"],
  ["index.docker.io/app",                "docker.io",      "library/app"],
  ["team/app:v2",                        "docker.io",      "team/app", "v2"],
  ["team/sub/app",                       "docker.io",      "team/sub/app"],
  ["localhost/app",                      "localhost",      "app"],
  ["localhost:5000/app:v1",              "localhost:5000", "app", "v1"],
  ["registry.local/team/app",            "registry.local", "team/app"],
  ["127.0.0.1:5000/app:1.0",             "127.0.0.1:5000", "app", "1.0"],
  ["[::1]:5000/app",                     "[::1]:5000",     "app"],
  ["[fe80::1]/app:x",                    "[fe80::1]",      "app", "x"],
  ["registry:5000/app",                  "registry:5000",  "app"],
  ["Registry.Local/app",                 "Registry.Local", "app"],
  ["MyHost/app",                         "MyHost",         "app"],
  // A "domain" valid only as a path component becomes path, as in the engine.
  ["my_registry.local/app",              "",               "my_registry.local/app"],
  ["a-b--c__d.e_f/g",                    "",               "a-b--c__d.e_f/g"],
  ["a-b--c__d_e/g",                      "docker.io",      "a-b--c__d_e/g"],
  ["app:V1_x.y-z",                       "docker.io",      "library/app", "V1_x.y-z"],
  ["app:_tag",                           "docker.io",      "library/app", "_tag"],
  [`app:${"t".repeat(128)}`,             "docker.io",      "library/app", "t".repeat(128)],
  ["localhost",                          "docker.io",      "library/localhost"],
  ["localhost:5000",                     "docker.io",      "library/localhost", "5000"],
  [`sha256:${HEX64}`,                    "docker.io",      "library/sha256", HEX64],
  [`app@${DIGEST}`,                      "docker.io",      "library/app", undefined, DIGEST],
  [`app:v1@${DIGEST}`,                   "docker.io",      "library/app", "v1", DIGEST],
  [`localhost:5000/app@${DIGEST}`,       "localhost:5000", "app", undefined, DIGEST],
  [`app@sha512+b64.x:${"F".repeat(32)}`, "docker.io",      "library/app", undefined, `sha512+b64.x:${"F".repeat(32)}`],
  ["a".repeat(247),                      "docker.io",      `library/${"a".repeat(247)}`],
  [`registry.local/${"a".repeat(255)}`,  "registry.local", "a".repeat(255)],
];

// deno-fmt-ignore
const INVALID: [string, string][] = [
  ["", "repository name must have at least one component"],
  [HEX64, "a 64-character hexadecimal string is an image ID, not a repository name"],
  ["app ", "invalid reference format"],
  [" app", "invalid reference format"],
  ["my app", "invalid reference format"],
  ["app:v 1", "invalid tag format"],
  ["App", "repository name must be lowercase"],
  ["Foo:bar", "repository name must be lowercase"],
  ["team/App:v1", "repository name must be lowercase"],
  ["registry.local/Team/app", "repository name must be lowercase"],
  [`${"a".repeat(255 - 7)}`, "repository name must not be more than 255 characters"],
  [`registry.local/${"a".repeat(256)}`, "repository name must not be more than 255 characters"],
  ["app:", "invalid tag format"],
  [":tag", "repository name must have at least one component"],
  [":", "invalid tag format"],
  ["app:-v1", "invalid tag format"],
  ["app:.v1", "invalid tag format"],
  ["app:v1:v2", "invalid reference format"],
  ["app:v/1", 'invalid registry domain "app:v"'],
  [`app:${"t".repeat(129)}`, "invalid tag format"],
  ["app:tág", "invalid tag format"],
  ["app@", "invalid digest format"],
  ["app@sha256", "invalid digest format"],
  ["app@sha256:", "invalid digest format"],
  [`app@sha256:${"a".repeat(31)}`, "invalid digest format"],
  [`app@sha256:${"g".repeat(64)}`, "invalid digest format"],
  [`app@256:${HEX64}`, "invalid digest format"],
  [`app@sha256:${HEX64}@sha256:${HEX64}`, "invalid digest format"],
  [`@${DIGEST}`, "repository name must have at least one component"],
  ["app/", "invalid reference format: empty path component"],
  ["/app", "invalid reference format: empty path component"],
  ["team//app", "invalid reference format: empty path component"],
  ["registry.local/", "invalid reference format: empty path component"],
  ["registry.local//app", "invalid reference format: empty path component"],
  ["-app", "invalid reference format"],
  ["app-", "invalid reference format"],
  ["a..b", "invalid reference format"],
  ["a___b", "invalid reference format"],
  ["a._b", "invalid reference format"],
  ["registry.local:port/app", 'invalid registry domain "registry.local:port"'],
  ["-bad.local/app", 'invalid registry domain "-bad.local"'],
  ["[::1/app", 'invalid registry domain "[::1"'],
  ["[zz]:5000/app", 'invalid registry domain "[zz]:5000"'],
  ["exa mple.com/app", 'invalid registry domain "exa mple.com"'],
  ["app\n", "invalid reference format"],
  ["http://registry.local/app", "invalid reference format: empty path component"],
];

Deno.test("parseReference normalises references the way the engine does", async (t) => {
  for (const [text, domain, path, tag, digest] of VALID) {
    await t.step(text.length > 80 ? `${text.slice(0, 60)}… (${text.length})` : text, () => {
      const ref = parseReference(text);
      const repository = domain === "" ? path : `${domain}/${path}`;
      assert.deepEqual(ref, { original: text, domain, path, repository, tag, digest });
      assert.equal(imageKey(ref), digest ? undefined : `${repository}:${tag ?? "latest"}`);
    });
  }
});

Deno.test("parseReference rejects what the engine rejects, with the reason", async (t) => {
  for (const [text, reason] of INVALID) {
    await t.step(JSON.stringify(text.length > 80 ? `${text.slice(0, 60)}…` : text), () => {
      assert.throws(() => parseReference(text), (error: unknown) => {
        assert.ok(error instanceof InvalidReferenceError);
        assert.equal(error.reason, reason);
        assert.equal(error.reference, text);
        assert.equal(error.message, `Invalid image reference ${JSON.stringify(text)}: ${reason}`);
        return true;
      });
    });
  }
});

Deno.test("the error message names the reference and the reason", () => {
  const error = new InvalidReferenceError("Foo:bar", "repository name must be lowercase");
  assert.equal(
    error.message,
    'Invalid image reference "Foo:bar": repository name must be lowercase',
  );
  assert.equal(error.name, "InvalidReferenceError");
  assert.ok(error instanceof Error);
});

Deno.test("parseReference throws only InvalidReferenceError, even for non-strings", () => {
  for (const value of [undefined, null, 42, {}, Symbol("x")]) {
    assert.throws(
      () => parseReference(value as unknown as string),
      (error: unknown) => error instanceof InvalidReferenceError,
    );
  }
});

Deno.test("all spellings of one repository share one key", () => {
  const spellings = [
    "app",
    "app:latest",
    "docker.io/app",
    "docker.io/library/app",
    "index.docker.io/library/app:latest",
  ];
  const keys = new Set(spellings.map((s) => imageKey(parseReference(s))));
  assert.deepEqual([...keys], ["docker.io/library/app:latest"]);
  const others = ["localhost:5000/app", "registry.local/team/app", "localhost/app", "team/app"];
  for (const other of others) {
    assert.notEqual(imageKey(parseReference(other)), "docker.io/library/app:latest");
  }
});

Deno.test("withTag keeps the workload's spelling and changes only the tag", async (t) => {
  const cases: [string, string, string][] = [
    ["app", "fix", "app:fix"],
    ["app:v1", "fix", "app:fix"],
    ["docker.io/library/app:v1", "fix", "docker.io/library/app:fix"],
    ["index.docker.io/app", "fix", "index.docker.io/app:fix"],
    ["localhost:5000/app:v1", "fix", "localhost:5000/app:fix"],
    ["localhost:5000/app", "fix", "localhost:5000/app:fix"],
    ["[::1]:5000/team/app:old", "new", "[::1]:5000/team/app:new"],
    [`app:v1@${DIGEST}`, "fix", "app:fix"],
    [`app@${DIGEST}`, "fix", "app:fix"],
    ["localhost:5000", "v2", "localhost:v2"],
  ];
  for (const [image, tag, expected] of cases) {
    await t.step(`${image} + ${tag} → ${expected}`, () => {
      const result = withTag(parseReference(image), tag);
      assert.equal(result, expected);
      assert.equal(parseReference(result).repository, parseReference(image).repository);
    });
  }
  await t.step("an invalid tag is refused", () => {
    assert.throws(() => withTag(parseReference("app:v1"), "bad tag"), InvalidReferenceError);
  });
});

Deno.test("splitImageKey inverts imageKey", async (t) => {
  const cases: [string, { repository: string; tag: string } | undefined][] = [
    ["docker.io/library/app:latest", { repository: "docker.io/library/app", tag: "latest" }],
    ["localhost:5000/app:v1", { repository: "localhost:5000/app", tag: "v1" }],
    ["localhost:5000/app", undefined],
    ["app", undefined],
    ["app:", undefined],
    [":v1", undefined],
  ];
  for (const [key, expected] of cases) {
    await t.step(key, () => assert.deepEqual(splitImageKey(key), expected));
  }
});

Deno.test("isValidTag follows the tag grammar", () => {
  assert.ok(isValidTag("v1.2.3-rc_1"));
  assert.ok(isValidTag("_"));
  assert.ok(!isValidTag(""));
  assert.ok(!isValidTag(".v"));
  assert.ok(!isValidTag("t".repeat(129)));
});

// An independent transcription of distribution/reference (ParseNormalizedNamed
// with one anchored regular expression), to compare against on random input.
const ORACLE = (() => {
  const component = "[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*";
  const domainComponent = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
  const domain = `(?:${domainComponent}(?:\\.${domainComponent})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
  const name = `(?:${domain}/)?${component}(?:/${component})*`;
  const digest = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}";
  const reference = new RegExp(`^(${name})(?::([\\w][\\w.-]{0,127}))?(?:@(${digest}))?$`);
  const split = new RegExp(`^(?:(${domain})/)?(${component}(?:/${component})*)$`);
  return (s: string): string | undefined => {
    if (s === "" || /^[a-f0-9]{64}$/.test(s)) return undefined;
    const slash = s.indexOf("/");
    let d = "docker.io";
    let remainder = s;
    if (slash < 0) remainder = `library/${s}`;
    else {
      const first = s.slice(0, slash);
      const after = s.slice(slash + 1);
      if (first === "localhost" || /[.:]/.test(first) || first.toLowerCase() !== first) {
        d = first === "index.docker.io" ? "docker.io" : first;
        remainder = after;
      }
      if (d === "docker.io" && !remainder.includes("/")) remainder = `library/${remainder}`;
    }
    const remote = remainder.split(":")[0]!;
    if (remote.toLowerCase() !== remote) return undefined;
    const m = reference.exec(`${d}/${remainder}`);
    if (!m) return undefined;
    const parts = split.exec(m[1]!);
    if (!parts || parts[2]!.length > 255) return undefined;
    const repo = parts[1] ? `${parts[1]}/${parts[2]}` : parts[2]!;
    return `${repo}|${m[2] ?? ""}|${m[3] ?? ""}`;
  };
})();

Deno.test("parseReference agrees with a transcription of the engine's grammar on random input", () => {
  const alphabet = "ab0Z.-_:/@[]9 sha256fA";
  const seeds = [
    "app",
    "localhost:5000/app",
    "registry.local/t/app:v1",
    `app@${DIGEST}`,
    "[::1]/a",
  ];
  let state = 12345;
  const random = (n: number) => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state % n;
  };
  for (let i = 0; i < 20_000; i++) {
    // Half mutate plausible references, half are short random strings.
    let s = i % 2 === 0 ? seeds[random(seeds.length)]! : "";
    if (i % 2 === 1) {
      for (let n = random(12); n > 0; n--) s += alphabet[random(alphabet.length)]!;
    }
    for (let edits = random(4); edits > 0; edits--) {
      const at = random(s.length + 1);
      const ch = alphabet[random(alphabet.length)]!;
      s = random(3) === 0 ? s.slice(0, at) + s.slice(at + 1) : s.slice(0, at) + ch + s.slice(at);
    }
    let ours: string | undefined;
    try {
      const ref = parseReference(s);
      ours = `${ref.repository}|${ref.tag ?? ""}|${ref.digest ?? ""}`;
    } catch (error) {
      assert.ok(error instanceof InvalidReferenceError, `unexpected error for ${s}`);
    }
    assert.equal(ours, ORACLE(s), `disagreement on ${JSON.stringify(s)}`);
  }
});
