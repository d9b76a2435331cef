/**
 * RabbitMQ for tests: the broker `.ci/rabbitmq.sh` starts (127.0.0.1:56729, a node of its own).
 *
 * Where the broker comes from:
 * - `BATON_TEST_AMQP_URL` (`.ci/run` sets it from `.ci/rabbitmq.sh`);
 * - unset: `.ci/rabbitmq.sh` is run once (installs rabbitmq-server if needed, as root, starts the
 *   node and prints the URL);
 * - neither works: the RabbitMQ tests are skipped, with the reason in their name and on stderr.
 *   CI always provides a broker; `BATON_SKIP_AMQP=1` skips them on purpose.
 *
 * `restartBroker` stops and starts the broker's application (`rabbitmqctl -n NODE stop_app` /
 * `start_app`): connections drop, durable queues and persistent messages stay.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SETUP_SCRIPT = `${REPO_ROOT}.ci/rabbitmq.sh`;
/** Installing the broker from Debian's packages takes a minute or two on a fresh machine. */
const SETUP_TIMEOUT_MS = 5 * 60_000;
const run = promisify(execFile);

export type Broker = { url: string; node: string } | { skip: string };

/** The test broker, or why there is none. Call once per file (top-level await). */
export async function findBroker(): Promise<Broker> {
  if (process.env.BATON_SKIP_AMQP === "1") return skipped("BATON_SKIP_AMQP=1");
  const node = (await run("bash", [SETUP_SCRIPT, "node"])).stdout.trim();
  const fromEnv = process.env.BATON_TEST_AMQP_URL;
  if (fromEnv) return { url: fromEnv, node };
  try {
    const { stdout } = await run("bash", [SETUP_SCRIPT], {
      timeout: SETUP_TIMEOUT_MS,
      maxBuffer: 16 * 1024 * 1024,
    });
    const url = stdout.trim().split("\n").pop() ?? "";
    if (!/^amqps?:\/\//.test(url)) return skipped(`.ci/rabbitmq.sh printed no URL (got ${url})`);
    process.env.BATON_TEST_AMQP_URL = url;
    return { url, node };
  } catch (e) {
    const stderr = (e as { stderr?: string }).stderr ?? "";
    return skipped(
      `no RabbitMQ broker: BATON_TEST_AMQP_URL is unset and .ci/rabbitmq.sh failed: ${(e as Error).message} ${stderr.slice(-500)}`,
    );
  }
}

function skipped(reason: string): Broker {
  console.warn(`RabbitMQ tests skipped: ${reason}`);
  return { skip: reason };
}

/** `rabbitmqctl -n NODE <command>` (stop_app, start_app, list_queues …); resolves with stdout. */
export async function rabbitmqctl(node: string, ...args: string[]): Promise<string> {
  const { stdout } = await run("rabbitmqctl", ["-n", node, ...args], {
    timeout: 60_000,
    env: { ...process.env, PATH: `${process.env.PATH ?? ""}:/usr/sbin` },
  });
  return stdout;
}

let queues = 0;

/** A queue name no other test uses, so tests on one broker never see each other's messages. */
export function uniqueQueue(prefix: string): string {
  return `${prefix}.${process.pid}.${Date.now()}.${++queues}`;
}
