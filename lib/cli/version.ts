/** `veryfreshpod version`: prints the program's version. */
import { VERSION } from "../util/version.ts";
import { VERSION_FLAGS } from "./flag_tables.ts";
import { type Command, commandHelp, parseFlags } from "./flags.ts";

const HELP = commandHelp(VERSION_FLAGS, "Print the version.");

export const versionCommand: Command = {
  name: "version",
  help: HELP,
  run(args, context) {
    const flags = parseFlags(VERSION_FLAGS, args);
    context.stdout(flags.help ? HELP + "\n" : `veryfreshpod ${VERSION}\n`);
    return Promise.resolve(0);
  },
};
