import { Option, type Command } from "commander";
import { BatonClient } from "../client/index.js";

/** The options every client command takes: --url/BATON_URL, --token/BATON_API_TOKEN, --json. */
export interface ClientOptions {
  url?: string;
  token?: string;
  json?: boolean;
}

/** Adds `--url`, `--token` and `--json` to a command that talks to a server. */
export function withClientOptions(command: Command): Command {
  return command
    .addOption(
      new Option("--url <url>", "the Baton server (default http://127.0.0.1:7070)").env(
        "BATON_URL",
      ),
    )
    .addOption(new Option("--token <token>", "API token").env("BATON_API_TOKEN"))
    .option("--json", "print machine-readable JSON");
}

export function clientFor(options: ClientOptions): BatonClient {
  return new BatonClient({
    ...(options.url ? { url: options.url } : {}),
    ...(options.token ? { token: options.token } : {}),
  });
}
