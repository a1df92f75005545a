/** Where builds kept outside the clone live, so that a fresh clone reuses an earlier build. */

/** `$XDG_CACHE_HOME`, else `~/.cache`. */
export function cacheHome(): string {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  if (xdg) return xdg;
  const home = Deno.env.get("HOME");
  if (!home) {
    throw new Error("neither XDG_CACHE_HOME nor HOME is set: no place for the build cache");
  }
  return `${home}/.cache`;
}
