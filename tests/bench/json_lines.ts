/** The benchmark's reader of newline-delimited JSON streams (/events, watches). */

/**
 * Reads `body` to its end: for each chunk, `onChunk` gets the JSON values of
 * the lines it completed and when it arrived (performance.now()).
 */
export async function readJsonLines(
  body: ReadableStream<Uint8Array>,
  // deno-lint-ignore no-explicit-any
  onChunk: (values: any[], at: number) => void,
): Promise<void> {
  let rest = "";
  for await (const chunk of body.pipeThrough(new TextDecoderStream())) {
    const at = performance.now();
    const lines = (rest + chunk).split("\n");
    rest = lines.pop() ?? "";
    onChunk(lines.filter((line) => line.trim()).map((line) => JSON.parse(line)), at);
  }
}
