/** `veryfreshpod version`: prints the program's version. */
import { VERSION } from "../version.ts";
import { type Command, parseFlags } from "./flags.ts";

const HELP = `Print the version.

Usage: veryfreshpod version [flags]

Flags:
  -h, --help   show this help`;

export const versionCommand: Command = {
  name: "version",
  help: HELP,
  run(args, context) {
    const flags = parseFlags("version", args, {});
    context.stdout(flags.help ? HELP + "\n" : `veryfreshpod ${VERSION}\n`);
    return Promise.resolve(0);
  },
};
