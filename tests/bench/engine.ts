/**
 * The benchmark's line to the test dockerd's Engine API: `docker tag` as the
 * API call the CLI makes (its "returned" is the response, without a CLI
 * process start in the way), and a plain /events stream that timestamps each
 * tag event as it arrives.
 */
import { type Docker, docker, makeImage, saveImage, unixHttpClient } from "../env/mod.ts";
import { readJsonLines } from "./json_lines.ts";

/** A test dockerd through its unix socket. */
export class BenchEngine {
  readonly host: string;
  readonly #daemon: Docker;
  readonly #client: Deno.HttpClient;

  private constructor(daemon: Docker) {
    this.#daemon = daemon;
    this.host = daemon.host;
    this.#client = unixHttpClient(daemon.socket);
  }

  /** Starts a test dockerd (the default one unless named; once per process) and connects to it. */
  static async connect(daemon: Promise<Docker> = docker()): Promise<BenchEngine> {
    return new BenchEngine(await daemon);
  }

  /**
   * Two new images of different IDs in this daemon; tags alternate between
   * them so each names a change. They are made in the default dockerd (the
   * test environment's images are) and loaded into another one.
   */
  async twoImages(repository: string): Promise<[string, string]> {
    const refs = [`${repository}:a`, `${repository}:b`] as const;
    const ids = [await makeImage(refs[0]), await makeImage(refs[1])] as [string, string];
    if (this.#daemon.socket === (await docker()).socket) return ids;
    const tarball = await saveImage(...refs);
    try {
      await this.#daemon.run(["load", "--quiet", "--input", tarball]);
    } finally {
      await Deno.remove(tarball.slice(0, tarball.lastIndexOf("/")), { recursive: true });
    }
    const inspect = (ref: string) => this.#daemon.run(["image", "inspect", "-f", "{{.Id}}", ref]);
    return [await inspect(refs[0]), await inspect(refs[1])];
  }

  /**
   * Tags image `id` as `repository:tag` (POST /images/{id}/tag, as `docker
   * tag` does); resolves with performance.now() once the daemon has answered.
   */
  async tag(id: string, repository: string, tag: string): Promise<number> {
    const query = new URLSearchParams({ repo: repository, tag });
    const response = await fetch(
      `http://docker/images/${encodeURIComponent(id)}/tag?${query}`,
      { method: "POST", client: this.#client },
    );
    const text = await response.text();
    const returned = performance.now();
    if (response.status !== 201 && response.status !== 200) {
      throw new Error(`tagging ${id} as ${repository}:${tag} answered ${response.status}: ${text}`);
    }
    return returned;
  }

  /** Opens /events for image tag events; resolves once the stream is open. */
  async tagEvents(): Promise<TagEvents> {
    const filters = JSON.stringify({ type: ["image"], event: ["tag"] });
    const events = new TagEvents();
    const response = await fetch(
      `http://docker/events?filters=${encodeURIComponent(filters)}`,
      { client: this.#client, signal: events.signal },
    );
    if (!response.ok || !response.body) {
      throw new Error(`/events answered ${response.status}: ${await response.text()}`);
    }
    events.follow(response.body);
    return events;
  }

  close(): void {
    this.#client.close();
  }
}

/** Tag events as they arrive, by the reference they name (`repo:tag`). */
export class TagEvents {
  readonly #abort = new AbortController();
  readonly #arrived = new Map<string, number>();
  readonly #waiters = new Map<string, (at: number) => void>();

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  follow(body: ReadableStream<Uint8Array>): void {
    readJsonLines(body, (events, at) => {
      for (const event of events) {
        const name = event?.Actor?.Attributes?.name;
        if (typeof name !== "string") continue;
        this.#arrived.set(name, at);
        this.#waiters.get(name)?.(at);
        this.#waiters.delete(name);
      }
    }).catch(() => {
      // Closed by close(); a broken stream shows as a waiter's timeout.
    });
  }

  /** Resolves with the arrival time of the tag event naming `reference` (`repo:tag`). */
  arrival(reference: string, timeoutMs = 10_000): Promise<number> {
    const seen = this.#arrived.get(reference);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(reference);
        reject(new Error(`no tag event for ${reference} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.#waiters.set(reference, (at) => {
        clearTimeout(timer);
        resolve(at);
      });
    });
  }

  close(): void {
    this.#abort.abort();
  }
}
