/** The real servers that tests start (Debian packages), and how a missing one is reported. */
import { spawnSync } from "node:child_process";

/**
 * Throws with the install command if `command` (probed with `args`) is missing: the tests
 * that need a real server fail and say how to get it, rather than pass by skipping.
 */
export function requireServer(command: string, args: string[], pkg: string): void {
  const probe = spawnSync(command, args, { encoding: "utf8" });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `${command} is not installed, and these tests need a real one: run \`apt-get install -y ${pkg}\` ` +
        "(as root), or `npm test`, which installs it on Debian",
    );
  }
}
