import assert from "node:assert/strict";
import { type DecodedLine, JsonLineDecoder } from "./json_lines.ts";

const EVENT = { Type: "image", Action: "pull", Actor: { ID: "alpine:latest", Attributes: {} } };

const encode = (text: string) => new TextEncoder().encode(text);

function values(lines: DecodedLine[]): unknown[] {
  return lines.map((line) => {
    assert.ok(line.ok, JSON.stringify(line));
    return line.value;
  });
}

Deno.test("CRLF, blank lines and a last line without a newline", () => {
  const decoder = new JsonLineDecoder();
  const first = decoder.push(encode('\r\n{"a":1}\r\n\n  \n{"b"'));
  assert.deepEqual(values(first), [{ a: 1 }]);
  assert.deepEqual(decoder.push(encode(":2}")), []);
  assert.deepEqual(values(decoder.flush()), [{ b: 2 }]);
  assert.deepEqual(decoder.flush(), []);
});

Deno.test("an over-long line fed in pieces is skipped, not held, up to its newline", () => {
  const decoder = new JsonLineDecoder(100);
  const piece = encode("b".repeat(37));
  const reports: DecodedLine[] = [];
  for (let i = 0; i < 10_000; i++) {
    reports.push(...decoder.push(piece));
    assert.ok(decoder.pendingBytes <= 100, `${decoder.pendingBytes} bytes held after ${i}`);
  }
  assert.equal(reports.length, 1, "one report, not one per piece");
  assert.ok(reports[0]?.ok === false && reports[0].tooLong);
  assert.equal(decoder.pendingBytes, 0);
  // The rest of the long line, its newline, then a good event in the same piece.
  assert.deepEqual(decoder.push(encode(`bbb\n${JSON.stringify(EVENT)}\n{"a"`)), [
    { ok: true, value: EVENT },
  ]);
  assert.deepEqual(decoder.push(encode(":1}\n")), [{ ok: true, value: { a: 1 } }]);
});

Deno.test("a line exactly at the cap is kept; one byte more is not", () => {
  const line = `{"k":"${"c".repeat(100 - 8)}"}`;
  assert.equal(line.length, 100);
  assert.deepEqual(values(new JsonLineDecoder(100).push(encode(`${line}\n`))), [{
    k: "c".repeat(92),
  }]);
  const [report] = new JsonLineDecoder(99).push(encode(`${line}\n`));
  assert.ok(report?.ok === false && report.tooLong);
});
