import assert from "node:assert/strict";
import { type SocketDaemon, socketFault } from "./socket_fault.ts";

const DAEMON: SocketDaemon = {
  process: "exampled",
  whenMissing: "start it",
  whenDenied: "ask for access",
};

Deno.test("socketFault() reads Deno's and grpc-js's spellings, Linux's and macOS's numbers", () => {
  const cases: [string, string | undefined][] = [
    [
      "TypeError: client error (Connect): No such file or directory (os error 2)",
      "no such file; start it",
    ],
    ["14 UNAVAILABLE: connect ENOENT /run/x.sock", "no such file; start it"],
    ["Permission denied (os error 13)", "permission denied; ask for access"],
    ["connect EACCES /run/x.sock", "permission denied; ask for access"],
    [
      "Connection refused (os error 111)",
      "connection refused; the file is not a socket or no daemon listens on it (is exampled running?)",
    ],
    [
      "client error (Connect): (os error 61)",
      "connection refused; the file is not a socket or no daemon listens on it (is exampled running?)",
    ],
    ["connect ETIMEDOUT", "timed out; is exampled hung?"],
    ["(os error 60)", "timed out; is exampled hung?"],
    ["something else entirely", undefined],
  ];
  for (const [text, expected] of cases) assert.equal(socketFault(text, DAEMON), expected, text);
});
