/** Counts in messages: "1 tagged image", "2 tagged images", never "1 tagged images". */

/**
 * `count` and the noun in the number it needs: `plural(1, "file")` is
 * "1 file", `plural(3, "file")` "3 files"; `many` for irregular nouns.
 */
export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}
