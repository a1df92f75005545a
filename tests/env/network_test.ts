import assert from "node:assert/strict";
import { cniConfig, interfaceNames, type NodeNetwork } from "./network.ts";

Deno.test("interfaceNames() fits Linux's 15 characters and differs per run", () => {
  const a = interfaceNames("vfp-test-9be4fcf2c71c0d0a");
  const b = interfaceNames("vfp-test-30dba9fa347c673");
  assert.deepEqual(a, { hostInterface: "vfp-9be4fcf2", bridge: "vfpbr-9be4fcf2" });
  assert.notEqual(a.hostInterface, b.hostInterface);
  assert.notEqual(a.bridge, b.bridge);
  for (const name of [...Object.values(a), ...Object.values(b)]) assert.ok(name.length <= 15);
});

Deno.test("cniConfig() keeps pod traffic on the node: no masquerade, the node as gateway", () => {
  const network: NodeNetwork = {
    netns: "/proc/1/ns/net",
    hostAddress: "10.201.7.129",
    nodeAddress: "10.201.7.130",
    podCidr: "10.201.7.0/25",
    hostInterface: "vfp-x",
    bridge: "vfpbr-x",
    cniNetwork: "vfp-test-x",
    inNode: (command, args) => [command, args],
  };
  const config = JSON.parse(cniConfig(network, "/tmp/vfp-test-x/ipam"));
  assert.equal(config.name, "vfp-test-x");
  const [bridge] = config.plugins;
  assert.equal(bridge.type, "bridge");
  assert.equal(bridge.bridge, "vfpbr-x");
  assert.equal(bridge.ipMasq, false);
  assert.equal(bridge.ipam.dataDir, "/tmp/vfp-test-x/ipam");
  assert.deepEqual(bridge.ipam.ranges, [[{ subnet: "10.201.7.0/25", gateway: "10.201.7.1" }]]);
});
