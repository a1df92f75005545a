/**
 * A registry the test nodes pull from under the name the machine uses,
 * `127.0.0.1:<port>` (as kind's `localhost:5001`): the first node (node.ts)
 * through a forwarder on its own loopback, which containerd's CRI reaches
 * over plain HTTP as it does any loopback registry; the second node
 * (second_node.ts) through a `hosts.toml`, as kind's script configures its
 * nodes. Each path ends at a forwarder on the machine's end of the node's
 * veth pair, so nothing listens beyond the run's own addresses.
 */
import { nodeNetwork } from "./network.ts";
import { binary } from "./paths.ts";
import { freePort, run, spawnDaemon, waitReady } from "./process.ts";
import type { PrivateRegistry } from "./private_registry.ts";
import { secondNode } from "./second_node.ts";

function socat(
  name: string,
  listen: string,
  target: string,
  inNode?: (c: string, a: string[]) => [string, string[]],
) {
  const colon = listen.lastIndexOf(":");
  const args = [
    `TCP-LISTEN:${listen.slice(colon + 1)},bind=${listen.slice(0, colon)},reuseaddr,fork`,
    `TCP:${target}`,
  ];
  return inNode
    ? spawnDaemon(name, ...inNode(binary("socat"), args))
    : spawnDaemon(name, binary("socat"), args);
}

/** Makes both nodes pull `registry` as `registry.address`; returns once the paths answer. */
export async function registryOnNodes(registry: PrivateRegistry): Promise<void> {
  const [network, second] = await Promise.all([nodeNetwork(), secondNode()]);
  const hostSide = `${network.hostAddress}:${freePort()}`;
  const machine = socat(`registry-forwarder-1-${registry.address}`, hostSide, registry.address);
  await waitReady(machine, async () => {
    const [hostname, port] = hostSide.split(":");
    (await Deno.connect({ hostname: hostname!, port: Number(port) })).close();
    return true;
  });
  // Inside the first node's namespace, its own loopback: the name image fields use.
  const loopback = socat(
    `registry-loopback-1-${registry.address}`,
    registry.address,
    hostSide,
    network.inNode,
  );
  await waitReady(loopback, async () => {
    await run(
      ...network.inNode(binary("socat"), ["-u", "OPEN:/dev/null", `TCP:${registry.address}`]),
    );
    return true;
  });
  await second.useRegistry(registry.address);
}
