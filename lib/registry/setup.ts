/**
 * `run`'s registry at start: the one named (`--registry`), else the one the
 * cluster announces, said in one of the first log lines with where it came
 * from; and the pusher that sends builds there.
 */
import { logger } from "../util/log.ts";
import { RegistryClient } from "./client.ts";
import { lookupCredentials } from "./credentials.ts";
import type { ImageSource } from "./image_source.ts";
import { setRegistryPullHelp } from "./pull_help.ts";
import { RegistryPusher } from "./pusher.ts";
import {
  type ClusterRegistry,
  type ConfigMapReader,
  describeRegistry,
  HOSTING_ORIGIN,
  isLoopbackHost,
  readAnnouncement,
} from "./which.ts";

const log = logger("registry");

export interface RegistrySetup {
  /** Reads the announcement (the KubeClient). */
  readonly kube: ConfigMapReader & { readonly server: string };
  /** From `--registry` or its variable; the announcement is not read then. */
  readonly named: ClusterRegistry | undefined;
  readonly env: (name: string) => string | undefined;
  /** Where the builds come from (the engine), made only when there is a registry. */
  readonly source: () => Promise<ImageSource>;
}

/** The pusher for the cluster's registry, or undefined when there is none. */
export async function startRegistry(setup: RegistrySetup): Promise<RegistryPusher | undefined> {
  let registry = setup.named;
  if (registry === undefined) {
    const announcement = await readAnnouncement(setup.kube);
    if (announcement.registry === undefined) {
      const line = "No cluster registry: {why}; workloads pulling from one are left alone " +
        "(name it with --registry)";
      if (announcement.warn) log.warn(line, { why: announcement.why });
      else log.info("No cluster registry ({why}, no --registry)", { why: announcement.why });
      return undefined;
    }
    registry = announcement.registry;
  }
  log.info("Cluster registry {registry}: builds that workloads pull from it are pushed there", {
    registry: describeRegistry(registry),
    host: registry.host,
    fromRuntime: registry.fromRuntime,
    origin: registry.origin,
  });
  // kind's script announces localhost:…: right for the nodes only when they run here.
  if (isLoopbackHost(registry.fromRuntime) && await serverElsewhere(setup.kube.server)) {
    log.warn(
      "The nodes are told to pull from {host}, a loopback name, but the cluster {server} is " +
        "not on this machine: its nodes resolve it to themselves. Name the registry as the " +
        "nodes reach it: --registry {host},from-runtime=HOST{fix}",
      {
        host: registry.fromRuntime,
        server: setup.kube.server,
        fix: registry.origin === HOSTING_ORIGIN ? ` (or set hostFromContainerRuntime)` : "",
      },
    );
  }
  setRegistryPullHelp(registry.fromRuntime, registry.help);
  const host = registry.host;
  const client = new RegistryClient(host, {
    credentials: () => lookupCredentials(host, { env: setup.env }),
  });
  return new RegistryPusher(registry, client, await setup.source());
}

/**
 * True when the API server is known to be elsewhere: its address (or, for a
 * name, every address it resolves to) is none of this machine's. Unknown
 * (a name that does not resolve here) counts as here: no false alarm.
 */
async function serverElsewhere(server: string): Promise<boolean> {
  let host: string;
  try {
    host = new URL(server).hostname.replace(/^\[|\]$/g, "");
  } catch {
    return false;
  }
  if (isLoopbackHost(host)) return false;
  const own = new Set(Deno.networkInterfaces().map((i) => i.address));
  let addresses = [host];
  if (!/^[\d.]+$|:/.test(host)) {
    try {
      addresses = await Deno.resolveDns(host, "A");
    } catch {
      return false;
    }
  }
  return addresses.length > 0 && addresses.every((address) => !own.has(address));
}
