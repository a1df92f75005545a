/** The program's version; `scripts/compile.ts` checks it against deno.json. */
export const VERSION = "0.1.0";
