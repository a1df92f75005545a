/**
 * The benchmark's own line to the test API server: one reused HTTP client
 * (requests of its own must not cost a TLS handshake each), bulk creation of
 * Deployments, and a watch that timestamps when each change becomes visible.
 */
import { kubernetes } from "../env/mod.ts";
import { readJsonLines } from "./json_lines.ts";

/**
 * How a bench Deployment looks: as `kubectl apply` leaves it (with the
 * last-applied-configuration annotation, a copy of the object, which most
 * workloads of a dev cluster carry), but with replicas 0, so that the
 * controllers make no pods to crowd the CPU.
 */
export function deploymentObject(namespace: string, name: string, image: string) {
  const applied = appliedDeployment(namespace, name, image);
  const annotations = {
    "kubectl.kubernetes.io/last-applied-configuration": JSON.stringify(applied),
  };
  return { ...applied, metadata: { ...applied.metadata, annotations } };
}

function appliedDeployment(namespace: string, name: string, image: string) {
  const labels = { app: name };
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace },
    spec: {
      replicas: 0,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: "app", image, imagePullPolicy: "IfNotPresent" }] },
      },
    },
  };
}

/** A CronJob as `kubectl apply` leaves it, due on 1 January only: its controller leaves it be. */
export function cronJobObject(namespace: string, name: string, image: string) {
  const applied = {
    apiVersion: "batch/v1",
    kind: "CronJob",
    metadata: { name, namespace },
    spec: {
      schedule: "0 0 1 1 *",
      suspend: true,
      jobTemplate: {
        spec: {
          template: {
            metadata: { labels: { app: name } },
            spec: {
              restartPolicy: "Never",
              containers: [{ name: "app", image, imagePullPolicy: "IfNotPresent" }],
            },
          },
        },
      },
    },
  };
  const annotations = {
    "kubectl.kubernetes.io/last-applied-configuration": JSON.stringify(applied),
  };
  return { ...applied, metadata: { ...applied.metadata, annotations } };
}

/** The test API server with the admin's token. */
export class BenchCluster {
  readonly server: string;
  readonly token: string;
  readonly kubeconfig: string;
  /** PEM of the CA that signed the API server's certificate. */
  readonly caCert: string;
  readonly #client: Deno.HttpClient;

  private constructor(server: string, token: string, kubeconfig: string, caCert: string) {
    this.server = server;
    this.token = token;
    this.kubeconfig = kubeconfig;
    this.caCert = caCert;
    this.#client = Deno.createHttpClient({ caCerts: [caCert] });
  }

  /** Starts the test control plane (once per process) and connects to it. */
  static async connect(): Promise<BenchCluster> {
    const kube = await kubernetes();
    const caCert = await Deno.readTextFile(kube.caFile);
    return new BenchCluster(kube.server, kube.adminToken, kube.kubeconfig, caCert);
  }

  /** A request that must succeed; returns the parsed body. */
  // deno-lint-ignore no-explicit-any
  async request(method: string, path: string, body?: unknown, contentType?: string): Promise<any> {
    const response = await this.fetch(path, {
      method,
      body: body === undefined ? undefined : JSON.stringify(body),
      headers: body === undefined ? {} : { "content-type": contentType ?? "application/json" },
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
    return text ? JSON.parse(text) : undefined;
  }

  /** A raw fetch with the admin's token, for streams. */
  fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${this.token}`);
    headers.set("accept", "application/json");
    return fetch(`${this.server}${path}`, { ...init, headers, client: this.#client });
  }

  async createNamespace(name: string): Promise<void> {
    await this.request("POST", "/api/v1/namespaces", { metadata: { name } });
  }

  /**
   * Creates `count` workloads `<prefix>-<i>` of `kind`, `image(i)` each, 48
   * requests at a time. CronJobs are on a schedule that is never due:
   * workloads that no controller writes to.
   */
  createWorkloads(
    kind: "Deployment" | "CronJob",
    namespace: string,
    prefix: string,
    count: number,
    image: (i: number) => string,
  ): Promise<void> {
    const [path, object] = kind === "Deployment"
      ? [`/apis/apps/v1/namespaces/${namespace}/deployments`, deploymentObject]
      : [`/apis/batch/v1/namespaces/${namespace}/cronjobs`, cronJobObject];
    return forEachAtOnce(0, count, 48, async (i) => {
      await this.request("POST", path, object(namespace, benchName(prefix, i), image(i)));
    });
  }

  /** Sets the first container's image of a Deployment with one strategic-merge patch. */
  async setImage(namespace: string, name: string, image: string): Promise<void> {
    await this.request(
      "PATCH",
      `/apis/apps/v1/namespaces/${namespace}/deployments/${name}`,
      { spec: { template: { spec: { containers: [{ name: "app", image }] } } } },
      "application/strategic-merge-patch+json",
    );
  }

  /** Records one Normal Event on a Deployment, as veryfreshpod does for each update. */
  async recordEvent(namespace: string, name: string, message: string): Promise<void> {
    const now = new Date().toISOString();
    await this.request("POST", `/api/v1/namespaces/${namespace}/events`, {
      metadata: { generateName: `${name}.`, namespace },
      involvedObject: { apiVersion: "apps/v1", kind: "Deployment", namespace, name },
      reason: "ImageUpdated",
      message,
      type: "Normal",
      source: { component: "veryfreshpod-bench" },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    });
  }

  /**
   * Lists `path`, then watches it from the list's resourceVersion: `view`
   * sees every object listed, added or modified, with the time it arrived
   * (performance.now()). Resolves once the watch is open. `fieldSelector`
   * narrows both; `listLimit` lists only that many (the watch still starts
   * from now: for a view that only wants what comes next).
   */
  async watch<T extends ObjectView>(
    path: string,
    view: T,
    options: { readonly fieldSelector?: string; readonly listLimit?: number } = {},
  ): Promise<T> {
    const selector: Record<string, string> = options.fieldSelector
      ? { fieldSelector: options.fieldSelector }
      : {};
    const listQuery = new URLSearchParams({
      ...selector,
      ...(options.listLimit !== undefined ? { limit: String(options.listLimit) } : {}),
    });
    const list = await this.request("GET", listQuery.size > 0 ? `${path}?${listQuery}` : path);
    const listed = performance.now();
    for (const item of list.items) view.see(item, listed);
    const query = new URLSearchParams({
      ...selector,
      watch: "1",
      allowWatchBookmarks: "true",
      resourceVersion: list.metadata.resourceVersion,
    });
    const response = await this.fetch(`${path}?${query}`, { signal: view.signal });
    if (!response.ok || !response.body) {
      throw new Error(`watch of ${path} answered ${response.status}: ${await response.text()}`);
    }
    view.follow(response.body);
    return view;
  }

  /** Watches the Deployments of a namespace. */
  watchDeployments(namespace: string): Promise<DeploymentWatch> {
    return this.watch(`/apis/apps/v1/namespaces/${namespace}/deployments`, new DeploymentWatch());
  }

  close(): void {
    this.#client.close();
  }
}

/** `<prefix>-00042`: names that sort in the order they were made. */
export function benchName(prefix: string, i: number): string {
  return `${prefix}-${String(i).padStart(5, "0")}`;
}

/** Runs `work(i)` for i in [from, to), at most `concurrency` at a time. */
export async function forEachAtOnce(
  from: number,
  to: number,
  concurrency: number,
  work: (i: number) => Promise<void>,
): Promise<void> {
  let next = from;
  const worker = async () => {
    while (next < to) await work(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, to - from) }, worker));
}

/**
 * What a watch feeds: `see` for each object with its arrival time, and
 * `wake` after each chunk so that waiters can check; a broken watch fails
 * them through `failure`.
 */
export abstract class ObjectView {
  readonly #abort = new AbortController();
  #failure: Error | undefined;

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Set once the watch broke. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Records an object from the list or the watch, seen at `at`. */
  // deno-lint-ignore no-explicit-any
  abstract see(object: any, at: number): void;

  /** Called for an object the watch says is gone. */
  // deno-lint-ignore no-explicit-any
  forget(_object: any): void {}

  /** Called after each chunk of the watch (and after a failure). */
  protected abstract wake(): void;

  /** Reads the watch stream until it ends or the view is closed. */
  follow(body: ReadableStream<Uint8Array>): void {
    (async () => {
      await readJsonLines(body, (events, at) => {
        for (const event of events) {
          if (event.type === "ERROR") throw new Error(`watch error: ${JSON.stringify(event)}`);
          if (event.type === "ADDED" || event.type === "MODIFIED") this.see(event.object, at);
          if (event.type === "DELETED") this.forget(event.object);
        }
        this.wake();
      });
      if (!this.#abort.signal.aborted) throw new Error("the watch ended");
    })().catch((error) => {
      if (this.#abort.signal.aborted) return;
      this.#failure = error instanceof Error ? error : new Error(String(error));
      this.wake();
    });
  }

  close(): void {
    this.#abort.abort();
  }
}

/** Some Deployments never showed the image within the bound. */
export class NotUpdated extends Error {
  readonly behind: number;
  readonly total: number;
  readonly timeoutMs: number;

  constructor(behind: number, total: number, image: string, timeoutMs: number) {
    super(`${behind} of ${total} Deployments did not run ${image} within ${timeoutMs / 1000} s`);
    this.behind = behind;
    this.total = total;
    this.timeoutMs = timeoutMs;
  }
}

/** A waiter for a set of Deployments to run one image. */
interface Waiter {
  readonly names: ReadonlySet<string>;
  readonly image: string;
  readonly resolve: (seenAt: number[]) => void;
  readonly reject: (error: Error) => void;
}

/**
 * The images of a namespace's Deployments as a watch shows them, with the
 * time (performance.now()) each image was first seen.
 */
export class DeploymentWatch extends ObjectView {
  readonly #images = new Map<string, { image: string; since: number }>();
  readonly #waiters = new Set<Waiter>();

  /** The Deployments seen so far. */
  get names(): string[] {
    return [...this.#images.keys()];
  }

  imageOf(name: string): string | undefined {
    return this.#images.get(name)?.image;
  }

  // deno-lint-ignore no-explicit-any
  see(object: any, at: number): void {
    const name = object?.metadata?.name;
    const image = object?.spec?.template?.spec?.containers?.[0]?.image;
    if (typeof name !== "string" || typeof image !== "string") return;
    if (this.#images.get(name)?.image !== image) this.#images.set(name, { image, since: at });
  }

  /**
   * Resolves when every Deployment in `names` runs `image`, with the time each
   * one was first seen running it; fails after `timeoutMs`.
   */
  waitFor(names: readonly string[], image: string, timeoutMs: number): Promise<number[]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        const behind = names.filter((name) => this.imageOf(name) !== image).length;
        reject(new NotUpdated(behind, names.length, image, timeoutMs));
      }, timeoutMs);
      const waiter: Waiter = {
        names: new Set(names),
        image,
        resolve: (seenAt) => {
          clearTimeout(timer);
          resolve(seenAt);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.#waiters.add(waiter);
      this.wake();
    });
  }

  protected wake(): void {
    for (const waiter of this.#waiters) {
      if (this.failure) {
        this.#waiters.delete(waiter);
        waiter.reject(this.failure);
        continue;
      }
      const seenAt: number[] = [];
      for (const name of waiter.names) {
        const entry = this.#images.get(name);
        if (entry?.image !== waiter.image) break;
        seenAt.push(entry.since);
      }
      if (seenAt.length === waiter.names.size) {
        this.#waiters.delete(waiter);
        waiter.resolve(seenAt);
      }
    }
  }
}
