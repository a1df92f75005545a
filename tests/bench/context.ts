/**
 * What every scenario of the benchmark shares: the sizes, the lines to the
 * test daemons, two images to tag, progress lines, and starting veryfreshpod
 * against the test environment.
 */
import type { BenchCluster } from "./cluster.ts";
import type { BenchEngine } from "./engine.ts";
import { type RunningProgram, startProgram } from "./program.ts";
import type { Sizes } from "./sizes.ts";

/** A Docker Engine the bench measures on, with two images of its own to tag. */
export interface BenchStore {
  /** `containerd` (Docker 29's default image store) or `classic`. */
  readonly store: "containerd" | "classic";
  readonly engine: BenchEngine;
  /** Two image IDs; successive tags of a repository alternate between them. */
  readonly images: readonly [string, string];
}

export interface BenchContext {
  readonly sizes: Sizes;
  readonly cluster: BenchCluster;
  /** The test environment's default dockerd (the containerd store with today's engines). */
  readonly engine: BenchEngine;
  /** Two image IDs in `engine`; successive tags of a repository alternate between them. */
  readonly images: readonly [string, string];
  /**
   * Every store measured on, the default first; a second, classic-store
   * daemon only with today's engines (the compatibility set has one daemon).
   */
  readonly stores: readonly BenchStore[];
  /** A progress line on stderr (the table goes to stdout). */
  progress(message: string): void;
}

/**
 * `veryfreshpod run` against the test daemons (or `kubeconfig` instead of the
 * admin's, `engine` instead of the default dockerd).
 */
export function startVeryfreshpod(
  context: BenchContext,
  kubeconfig = context.cluster.kubeconfig,
  engine = context.engine,
  extraArgs: string[] = [],
): Promise<RunningProgram> {
  return startProgram({ kubeconfig, engineArgs: ["--docker-host", engine.host], extraArgs });
}

/** The suffix of a store's row ids and names: none for the default, `.classic` for the other. */
export function storeSuffix(context: BenchContext, store: BenchStore): string {
  return store === context.stores[0] ? "" : `.${store.store}`;
}

/**
 * The tags of one repository: `<repository>:<prefix>0`, `…1`, … naming the two
 * images in turn, so that every new tag names another image than the one
 * before it (a new build, which veryfreshpod must roll out).
 */
export class TagSequence {
  readonly repository: string;
  readonly #prefix: string;
  readonly #images: readonly [string, string];
  #count = 0;

  constructor(repository: string, images: readonly [string, string], prefix = "v") {
    this.repository = repository;
    this.#images = images;
    this.#prefix = prefix;
  }

  /** The reference the last tag made (before any: the one `next` makes first). */
  get current(): string {
    return `${this.repository}:${this.#prefix}${Math.max(0, this.#count - 1)}`;
  }

  /** The reference the next call of `tag` makes. */
  get upcoming(): string {
    return `${this.repository}:${this.#prefix}${this.#count}`;
  }

  /** Tags the next reference; resolves with performance.now() when the engine answered. */
  async tag(engine: BenchEngine): Promise<number> {
    const n = this.#count++;
    return await engine.tag(this.#images[n % 2]!, this.repository, `${this.#prefix}${n}`);
  }
}

/** Resolves after `ms` milliseconds. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
