/**
 * How long the pure decision takes at sizes far beyond a dev cluster, so that
 * re-reading the image list every few seconds and planning on every change
 * stays negligible. Run with `deno task bench`.
 */
import type { ImageSnapshot, TaggedImage } from "../../lib/model/image_snapshot.ts";
import type { TrackedWorkload } from "../../lib/model/workload.ts";
import { DEFAULT_EXCLUDED_NAMESPACES, plan } from "../../lib/decision/plan.ts";
import { ROLLOUT_ANNOTATION } from "../../lib/model/plan_types.ts";
import { diffSnapshots } from "../../lib/loop/snapshot.ts";

const REPOSITORIES = 200;
const options = { namespaces: [], excludeNamespaces: DEFAULT_EXCLUDED_NAMESPACES };

/** Workloads spread over 20 namespaces, each on one of REPOSITORIES apps, a sidecar and an init. */
function workloads(count: number): TrackedWorkload[] {
  return Array.from({ length: count }, (_, i): TrackedWorkload => ({
    key: { kind: "Deployment", namespace: `ns${i % 20}`, name: `web${i}` },
    resourceVersion: String(i),
    labels: i % 10 === 0 ? { "app.kubernetes.io/managed-by": "Helm" } : {},
    annotations: {},
    templateAnnotations: i % 3 === 0
      ? { [ROLLOUT_ANNOTATION]: `{"docker.io/library/app${i % REPOSITORIES}:v1":"sha256:old"}` }
      : {},
    containers: [
      { name: "init", init: true, image: `app${i % REPOSITORIES}:v1`, pullPolicy: undefined },
      { name: "web", init: false, image: `app${i % REPOSITORIES}:v1`, pullPolicy: "Always" },
      { name: "proxy", init: false, image: "registry.local/proxy:1.2", pullPolicy: "IfNotPresent" },
    ],
  }));
}

function snapshot(size: number, idPrefix: string): Map<string, TaggedImage> {
  const map = new Map<string, TaggedImage>();
  for (let i = 0; i < size; i++) {
    map.set(`docker.io/library/app${i % REPOSITORIES}:v${Math.floor(i / REPOSITORIES)}`, {
      id: `sha256:${idPrefix}${i}`,
      fromRegistry: i % 2 === 0,
    });
  }
  return map;
}

// One batch as after a build: a new tag for ten repositories, a rebuilt v1 for ten others.
const before: ImageSnapshot = snapshot(1_000, "a");
const afterBuild = new Map(before);
for (let r = 0; r < 10; r++) {
  afterBuild.set(`docker.io/library/app${r}:v99`, { id: `new${r}`, fromRegistry: false });
}
for (let r = 10; r < 20; r++) {
  afterBuild.set(`docker.io/library/app${r}:v1`, { id: `re${r}`, fromRegistry: false });
}
const changes = diffSnapshots(before, afterBuild);

for (const count of [1_000, 10_000]) {
  const tracked = workloads(count);
  Deno.bench(`plan: 20 changed repositories, ${count.toLocaleString("en")} workloads`, {
    group: "plan",
  }, () => {
    plan(changes, tracked, afterBuild, options);
  });
}

const big = snapshot(5_000, "a");
const bigSame = new Map(big);
const bigChanged = snapshot(5_000, "b");
Deno.bench("diffSnapshots: 5,000 images, nothing changed", { group: "diff" }, () => {
  diffSnapshots(big, bigSame);
});
Deno.bench("diffSnapshots: 5,000 images, all moved", { group: "diff" }, () => {
  diffSnapshots(big, bigChanged);
});
