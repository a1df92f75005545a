/**
 * Puts the manifest's objects into the cluster with server-side apply (field
 * manager `veryfreshpod`, forced: veryfreshpod owns these objects) and takes
 * them out again by label. Each object's outcome is reported the way kubectl
 * does, so a second install says "unchanged" for every object.
 */
import "../util/quiet_deprecations.ts";
import {
  type KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
} from "@kubernetes/client-node";
import { apiStatus, explainKubeError } from "../kube/api_errors.ts";
import { INSTALL_SELECTOR } from "./manifest.ts";

export const FIELD_MANAGER = "veryfreshpod";

export type ApplyOutcome = "created" | "configured" | "unchanged";
export type DeleteOutcome = "deleted" | "already deleting";

/** `deployment.apps/veryfreshpod`, as kubectl names objects. */
export function describeObject(object: KubernetesObject): string {
  return `${(object.kind ?? "").toLowerCase()}${groupSuffix(object)}/${object.metadata?.name}`;
}

/** `deployments.apps`, `namespaces`, for permission messages. */
export function resourceOf(object: KubernetesObject): string {
  const kind = (object.kind ?? "").toLowerCase();
  return `${kind}s${groupSuffix(object)}`;
}

function groupSuffix(object: KubernetesObject): string {
  const apiVersion = object.apiVersion ?? "v1";
  return apiVersion.includes("/") ? `.${apiVersion.split("/")[0]}` : "";
}

/** The fields that say what an object is, without those the server keeps changing. */
function content(object: KubernetesObject | undefined): string {
  if (object === undefined) return "";
  const {
    resourceVersion: _rv,
    managedFields: _mf,
    generation: _g,
    ...metadata
  } = object.metadata ?? {};
  const { status: _status, ...rest } = object as KubernetesObject & { status?: unknown };
  return stableJson({ ...rest, metadata });
}

function stableJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, inner) =>
      inner !== null && typeof inner === "object" && !Array.isArray(inner) &&
        !(inner instanceof Date)
        ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => a.localeCompare(b)))
        : inner,
  );
}

/** Applies and deletes the install's objects for one cluster. */
export class Installer {
  readonly #api: KubernetesObjectApi;
  readonly #server: string;
  readonly #dryRun: boolean;

  constructor(kube: KubeConfig, options: { dryRun: boolean }) {
    this.#api = KubernetesObjectApi.makeApiClient(kube);
    this.#server = kube.getCurrentCluster()?.server ?? "(no server)";
    this.#dryRun = options.dryRun;
  }

  /**
   * Applies one object. `namespaceIsNew` says that this run creates the
   * object's namespace: a server-side dry run could not apply into it (it does
   * not exist yet), and the object cannot exist either.
   */
  async apply(object: KubernetesObject, namespaceIsNew = false): Promise<ApplyOutcome> {
    if (this.#dryRun && namespaceIsNew) return "created";
    const before = await this.#read(object);
    let after: KubernetesObject;
    try {
      after = await this.#api.patch(
        structuredClone(object),
        undefined,
        this.#dryRun ? "All" : undefined,
        FIELD_MANAGER,
        true,
        PatchStrategy.ServerSideApply,
      );
    } catch (error) {
      throw this.#explain(error, "patch", object);
    }
    if (before === undefined) return "created";
    if (before.metadata?.resourceVersion === after.metadata?.resourceVersion) return "unchanged";
    // A controller may have changed the status meanwhile; only a change of content counts.
    return content(before) === content(after) ? "unchanged" : "configured";
  }

  /**
   * Every object of the given kinds that carries the install labels, in any
   * namespace. `kinds` are `[apiVersion, kind]` pairs.
   */
  async findInstalled(
    kinds: ReadonlyArray<readonly [string, string]>,
  ): Promise<KubernetesObject[]> {
    const found: KubernetesObject[] = [];
    for (const [apiVersion, kind] of kinds) {
      try {
        const list = await this.#api.list(
          apiVersion,
          kind,
          undefined,
          undefined,
          undefined,
          undefined,
          undefined,
          INSTALL_SELECTOR,
        );
        for (const item of list.items) found.push({ ...item, apiVersion, kind });
      } catch (error) {
        throw this.#explain(error, "list", { apiVersion, kind });
      }
    }
    return found;
  }

  /** Deletes one object (its dependents go in the background); a vanished object is fine. */
  async delete(object: KubernetesObject): Promise<DeleteOutcome | "gone"> {
    if (object.metadata?.deletionTimestamp !== undefined) return "already deleting";
    try {
      await this.#api.delete(
        { apiVersion: object.apiVersion, kind: object.kind, metadata: { ...object.metadata } },
        undefined,
        this.#dryRun ? "All" : undefined,
        undefined,
        undefined,
        "Background",
      );
      return "deleted";
    } catch (error) {
      if (apiStatus(error) === 404) return "gone";
      throw this.#explain(error, "delete", object);
    }
  }

  async #read(object: KubernetesObject): Promise<KubernetesObject | undefined> {
    try {
      return await this.#api.read({
        apiVersion: object.apiVersion!,
        kind: object.kind!,
        metadata: { name: object.metadata!.name!, namespace: object.metadata?.namespace },
      });
    } catch (error) {
      if (apiStatus(error) === 404) return undefined;
      throw this.#explain(error, "get", object);
    }
  }

  #explain(error: unknown, verb: string, object: KubernetesObject): unknown {
    return explainKubeError(error, this.#server, {
      verb,
      resource: resourceOf(object),
      namespace: object.metadata?.namespace,
    });
  }
}
