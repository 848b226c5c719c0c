/**
 * An sshfs mount over loopback only: a throwaway sshd on 127.0.0.1 (its own
 * host and client keys, a free port, no passwords) serves a directory of the
 * suite's, and `sshfs` mounts it. `close()` unmounts, stops sshd and deletes
 * the keys.
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { hasCommand, sh } from "../_commands.ts";
import { type Mount, mount } from "../_mounts.ts";
import { Skip } from "../_skip.ts";

const SSHD = "/usr/sbin/sshd";

/** Why sshfs over loopback cannot run here, or `null`. */
function sshfsProblem(): string | null {
  if (!fs.existsSync("/dev/fuse")) return "no /dev/fuse (FUSE) here";
  if (!hasCommand("sshfs")) return "sshfs is not installed";
  if (!fs.existsSync(SSHD)) return "openssh-server (sshd) is not installed";
  if (!hasCommand("ssh-keygen")) return "ssh-keygen is not installed";
  return null;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts connections on `port`, or throws after `ms`. */
async function listening(port: number, sshd: ChildProcess, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (sshd.exitCode !== null) {
      throw new Error(`sshd exited (${sshd.exitCode})`);
    }
    const up = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1");
      socket.once("connect", () => resolve(socket.end() && true));
      socket.once("error", () => resolve(false));
    });
    if (up) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`sshd is not listening on port ${port} after ${ms} ms`);
}

/**
 * Serves `exported` with a throwaway sshd on 127.0.0.1 and mounts it at
 * `dir` with sshfs (named `name` in the mount table), with sshfs's `options`
 * besides its defaults; `home` holds the keys and the configuration, and is
 * deleted on `close()`.
 */
export async function mountSshfs(
  name: string,
  home: string,
  exported: string,
  dir: string,
  options: readonly string[] = [],
): Promise<Mount> {
  const problem = sshfsProblem();
  if (problem) throw new Skip(problem);
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  const file = (base: string) => path.join(home, base);
  sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", file("host_key"));
  sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", file("client_key"));
  fs.copyFileSync(file("client_key.pub"), file("authorized_keys"));
  const port = await freePort();
  fs.writeFileSync(
    file("sshd_config"),
    [
      "ListenAddress 127.0.0.1",
      `Port ${port}`,
      `HostKey ${file("host_key")}`,
      `AuthorizedKeysFile ${file("authorized_keys")}`,
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "StrictModes no",
      `PidFile ${file("sshd.pid")}`,
      "Subsystem sftp internal-sftp",
    ].join("\n") + "\n",
  );
  fs.mkdirSync("/run/sshd", { recursive: true }); // sshd's privilege-separation directory
  const sshd = spawn(SSHD, ["-D", "-e", "-f", file("sshd_config")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  sshd.stderr!.setEncoding("utf8").on("data", (text) => log += text);
  const stop = () => {
    if (sshd.exitCode === null) sshd.kill();
    fs.rmSync(home, { recursive: true, force: true });
  };
  try {
    await listening(port, sshd);
  } catch (error) {
    stop();
    throw new Skip(
      `cannot start sshd on loopback: ${
        (error as Error).message
      }: ${log.trim()}`,
    );
  }
  return mount(
    "fuse.sshfs",
    dir,
    [
      `root@127.0.0.1:${exported}`,
      "-p",
      String(port),
      "-o",
      [
        `fsname=${name}`,
        `IdentityFile=${file("client_key")}`,
        "StrictHostKeyChecking=no",
        "UserKnownHostsFile=/dev/null",
        "BatchMode=yes",
        ...options,
      ].join(","),
    ],
    stop,
    "sshfs",
  );
}
