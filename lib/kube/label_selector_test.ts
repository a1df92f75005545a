import assert from "node:assert/strict";
import { labelSelectorProblem } from "./label_selector.ts";

Deno.test("labelSelectorProblem() accepts what kubectl -l accepts", () => {
  for (
    const selector of [
      "tier=web",
      "tier==web,track!=canary",
      "app.kubernetes.io/name=web",
      "env in (dev, test),!legacy",
      "env notin (prod)",
      "managed",
      "tier=",
      " tier = web ",
    ]
  ) {
    assert.equal(labelSelectorProblem(selector), undefined, selector);
  }
});

Deno.test("labelSelectorProblem() names what is wrong", () => {
  const cases: [string, RegExp][] = [
    ["", /the selector is empty/],
    ["tier=web,", /a requirement between commas is empty/],
    ["tier=web!", /"web!" is not a valid label value/],
    ["-tier=web", /"-tier" is not a valid label key/],
    ["Example.COM/tier=web", /"Example.COM" is not a valid label key prefix/],
    [`${"a".repeat(64)}=x`, /is not a valid label key/],
    ["env in ()", /"env in \(\)" needs at least one value/],
    ["env in (a b)", /"a b" is not a valid label value/],
    ["tier=web=x", /"web=x" is not a valid label value/],
    ["tier in web", /"tier in web" is not a requirement/],
  ];
  for (const [selector, pattern] of cases) {
    assert.match(labelSelectorProblem(selector) ?? "(accepted)", pattern, selector);
  }
});
