/**
 * `veryfreshpod status` as end-to-end tests read it: run from source against
 * the test cluster's admin kubeconfig, for one namespace.
 */
import assert from "node:assert/strict";
import { kubernetes } from "../env/mod.ts";
import { runVeryfreshpod } from "./veryfreshpod_process.ts";

/** `veryfreshpod status -o json -n namespace`, parsed. */
// deno-lint-ignore no-explicit-any
export async function statusRows(namespace: string): Promise<any[]> {
  return JSON.parse(await statusOutput(namespace, ["-o", "json"]));
}

/** The table, for the assertion messages and a look at its shape. */
export function statusTable(namespace: string): Promise<string> {
  return statusOutput(namespace, []);
}

async function statusOutput(namespace: string, extra: string[]): Promise<string> {
  const { kubeconfig } = await kubernetes();
  const result = await runVeryfreshpod([
    ...["status", "--kubeconfig", kubeconfig, "-n", namespace, ...extra],
  ]);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout;
}
