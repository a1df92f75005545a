/**
 * On a real node: a new tag → the new pod Ready, beside `kubectl set image`
 * → the new pod Ready. Needs the test environment's node (issue 8); until
 * tests/env exports `node()`, the row says that it was not measured.
 */
import type { BenchContext } from "./context.ts";
import type { Row } from "./table.ts";

const FIGURE = "real node: new tag → new pod Ready, beside `kubectl set image` → new pod Ready";

export async function nodeRows(_context: BenchContext): Promise<Row[]> {
  const env: Record<string, unknown> = await import("../env/mod.ts");
  if (typeof env.node !== "function") {
    return [{
      id: "node.rollout",
      figure: FIGURE,
      measured: "not measured: needs the real node (issue 8)",
      target: "≤ floor + 100 ms",
      verdict: "not measured",
      values: {},
    }];
  }
  throw new Error("the real node exists now: the node scenario must be written for it");
}
