/**
 * Whether something is at `path`: by default what a symlink points to must
 * exist too; with `followLinks: false` a link counts itself (a dangling one too).
 */
export function exists(path: string, options: { followLinks?: boolean } = {}): boolean {
  try {
    if (options.followLinks === false) Deno.lstatSync(path);
    else Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
