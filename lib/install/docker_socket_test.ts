import assert from "node:assert/strict";
import { UserError } from "../util/errors.ts";
import { fakeDocker, json, versionBody } from "../testing/fake_docker.ts";
import { findDockerSocket } from "./docker_socket.ts";

/** findDockerSocket's answer and the lines it said. */
async function find(asked: string | undefined, defaultPath: string) {
  const lines: string[] = [];
  const found = await findDockerSocket(asked, { say: (line) => lines.push(line), defaultPath });
  return { found, lines };
}

Deno.test("findDockerSocket() mounts the default socket only when Docker answers there", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "vfp-docker-socket-" });
  try {
    await t.step("nothing there: one line, no socket", async () => {
      assert.deepEqual(await find(undefined, `${dir}/missing.sock`), {
        found: undefined,
        lines: [
          `No Docker Engine socket at ${dir}/missing.sock: the installed veryfreshpod sees only ` +
          "the images in containerd (--docker-socket PATH names another)",
        ],
      });
    });
    await t.step("a directory is no socket (and nothing is created)", async () => {
      assert.equal((await find(undefined, dir)).found, undefined);
    });
    await t.step("Docker answers: it is mounted, said with its version", async () => {
      await using docker = await fakeDocker(() => json(versionBody("1.47")));
      assert.deepEqual(await find(undefined, docker.socket), {
        found: docker.socket,
        lines: [
          `Docker Engine 27.5.1 at ${docker.socket}: mounting it too; the installed ` +
          "veryfreshpod copies each build a workload uses into the node's containerd",
        ],
      });
    });
    await t.step("a socket that is not Docker's: one line, no socket", async () => {
      await using other = await fakeDocker(() => json({ message: "no" }, 404));
      const { found, lines } = await find(undefined, other.socket);
      assert.equal(found, undefined);
      assert.match(lines[0]!, new RegExp(`^Cannot use Docker at ${other.socket} \\(`));
      assert.equal(lines.length, 1);
    });
    await t.step("none: one line, whatever is there", async () => {
      await using docker = await fakeDocker(() => json(versionBody("1.47")));
      const { found, lines } = await find("none", docker.socket);
      assert.equal(found, undefined);
      assert.deepEqual(docker.requests, []);
      assert.match(lines[0]!, /^No Docker socket \(--docker-socket none\)/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("findDockerSocket() stops in one line when --docker-socket names no working socket", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vfp-docker-socket-" });
  try {
    await assert.rejects(find(`${dir}/docker.sock`, "/unused"), (error) => {
      assert.ok(error instanceof UserError);
      assert.equal(error.exitCode, 3);
      assert.match(error.message, /^No socket at ".*\/docker\.sock" \(--docker-socket\)/);
      return true;
    });
    await using other = await fakeDocker(() => json({ message: "no" }, 404));
    await assert.rejects(find(other.socket, "/unused"), UserError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
