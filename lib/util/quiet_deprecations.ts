/**
 * @kubernetes/client-node loads Node's deprecated `punycode` module, which
 * makes Node (and Deno's Node layer) print a deprecation warning on stderr.
 * Users must not see it, so this module turns those warnings off; it has to be
 * imported before anything that imports client-node.
 */
import process from "node:process";

process.noDeprecation = true;
