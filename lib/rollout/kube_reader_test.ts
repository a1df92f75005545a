import assert from "node:assert/strict";
import { selectorQuery } from "./kube_reader.ts";

Deno.test("selectorQuery() writes a LabelSelector as the labelSelector query", async (t) => {
  const cases: Array<[string, Parameters<typeof selectorQuery>[0], string | undefined]> = [
    ["matchLabels", { matchLabels: { app: "web", tier: "front" } }, "app=web,tier=front"],
    [
      "every operator",
      {
        matchLabels: { app: "web" },
        matchExpressions: [
          { key: "env", operator: "In", values: ["dev", "test"] },
          { key: "zone", operator: "NotIn", values: ["x"] },
          { key: "canary", operator: "Exists" },
          { key: "legacy", operator: "DoesNotExist" },
        ],
      },
      "app=web,env in (dev,test),zone notin (x),canary,!legacy",
    ],
    ["no selector selects nothing (never every pod)", undefined, undefined],
    ["an empty selector selects nothing", {}, undefined],
    ["an unknown operator selects nothing", {
      matchExpressions: [{ key: "a", operator: "Gt", values: ["1"] }],
    }, undefined],
  ];
  for (const [name, selector, expected] of cases) {
    await t.step(name, () => assert.equal(selectorQuery(selector), expected));
  }
});
