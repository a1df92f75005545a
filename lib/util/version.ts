/**
 * The program's version: deno.json's `version`, embedded into the executable.
 * A release build (`deno task compile --version`) compiles a copy of the
 * sources whose deno.json carries the tag's version.
 */
import config from "../../deno.json" with { type: "json" };

export const VERSION: string = config.version;
