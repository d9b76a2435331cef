/**
 * A TCP proxy between the nodes and PostgreSQL that misbehaves on demand:
 * - `blackhole`: connections (new and open) are accepted, and nothing is forwarded either way;
 *   on heal every connection that lost bytes is cut, as a network partition's end would find them;
 * - `delay`: every chunk waits `delayMs` before it is forwarded, in order;
 * - `cutAfterCommit(n)`: the next n commits are forwarded to the server and then the connection is
 *   cut before the answer can reach the client: an ambiguous commit. A commit is a `COMMIT` (simple
 *   protocol) or, outside BEGIN … COMMIT, the Sync after executing a statement that writes
 *   (INSERT/UPDATE/DELETE), which commits it.
 * It parses the client's side of the protocol (startup message untyped, then type byte + length;
 * Parse names a statement's text, Bind picks the statement, Execute runs it, Sync ends it).
 */
import { createServer, connect, type Server, type Socket } from "node:net";

type Mode = { kind: "pass" } | { kind: "blackhole" } | { kind: "delay"; delayMs: number };

interface Link {
  client: Socket;
  server: Socket;
  /** Bytes dropped while black-holed: the protocol stream is broken, the link must be cut. */
  damaged: boolean;
}

function isWrite(sql: string): boolean {
  return /\b(INSERT|UPDATE|DELETE)\b/i.test(sql.replace(/--[^\n]*/g, ""));
}

export class PgProxy {
  private server: Server | undefined;
  private readonly links = new Set<Link>();
  private mode: Mode = { kind: "pass" };
  private commitsToCut = 0;
  port = 0;
  readonly stats = { connections: 0, commitsCut: 0, cut: 0 };

  constructor(
    private readonly targetPort: number,
    private readonly targetHost = "127.0.0.1",
  ) {}

  async listen(): Promise<number> {
    this.server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    const address = this.server.address();
    if (address === null || typeof address === "string") throw new Error("proxy has no port");
    this.port = address.port;
    return this.port;
  }

  blackhole(): void {
    this.mode = { kind: "blackhole" };
  }

  delay(delayMs: number): void {
    this.mode = { kind: "delay", delayMs };
  }

  cutAfterCommit(count: number): void {
    this.commitsToCut += count;
  }

  /** Back to forwarding; links that lost bytes while black-holed are cut. */
  heal(): void {
    this.mode = { kind: "pass" };
    this.commitsToCut = 0;
    for (const link of this.links) if (link.damaged) this.cut(link);
  }

  /** Cuts every open connection. */
  cutAll(): void {
    for (const link of this.links) this.cut(link);
  }

  pendingCommitCuts(): number {
    return this.commitsToCut;
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) =>
      this.server ? this.server.close(() => resolve()) : resolve(),
    );
  }

  private cut(link: Link): void {
    if (!this.links.delete(link)) return;
    this.stats.cut++;
    link.client.destroy();
    link.server.destroy();
  }

  private accept(client: Socket): void {
    this.stats.connections++;
    const server = connect(this.targetPort, this.targetHost);
    const link: Link = { client, server, damaged: false };
    this.links.add(link);
    const drop = (): void => this.cut(link);
    client.on("error", drop).on("close", drop);
    server.on("error", drop).on("close", drop);

    // Each direction forwards in order, through the mode in force when the bytes arrived.
    const toServer = this.forwarder(link, server);
    const toClient = this.forwarder(link, client);
    let pending = Buffer.alloc(0);
    let startup = true;
    const statements = new Map<string, string>(); // prepared statement name → text
    let bound = "";
    let writeExecuted = false;
    let inTransaction = false;
    const cstring = (buffer: Buffer, from: number): [string, number] => {
      const end = buffer.indexOf(0, from);
      return [buffer.subarray(from, end).toString("utf8"), end + 1];
    };
    client.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      // Whole messages only, so a COMMIT can be cut right after it.
      for (;;) {
        const header = startup ? 0 : 1;
        if (pending.length < header + 4) return;
        const length = pending.readInt32BE(header) + header;
        if (pending.length < length) return;
        const message = pending.subarray(0, length);
        pending = pending.subarray(length);
        let isCommit = false;
        if (startup) {
          const code = message.length >= 8 ? message.readInt32BE(4) : 0;
          // SSLRequest / GSSENCRequest are followed by another untyped startup message.
          startup = code === 80877103 || code === 80877104;
        } else if (message[0] === 0x51 /* Q */) {
          const [text] = cstring(message, 5);
          if (/^\s*(BEGIN|START)\b/i.test(text)) inTransaction = true;
          if (/^\s*(COMMIT|END)\b/i.test(text)) {
            isCommit = inTransaction;
            inTransaction = false;
          }
          if (/^\s*ROLLBACK\b/i.test(text)) inTransaction = false;
          if (!inTransaction && !isCommit && isWrite(text)) isCommit = true;
        } else if (message[0] === 0x50 /* P */) {
          const [name, next] = cstring(message, 5);
          statements.set(name, cstring(message, next)[0]);
        } else if (message[0] === 0x42 /* B */) {
          const [, next] = cstring(message, 5);
          bound = statements.get(cstring(message, next)[0]) ?? "";
        } else if (message[0] === 0x45 /* E */) {
          if (isWrite(bound)) writeExecuted = true;
        } else if (message[0] === 0x53 /* S */) {
          isCommit = writeExecuted && !inTransaction;
          writeExecuted = false;
        }
        toServer(message);
        if (isCommit && this.commitsToCut > 0 && this.mode.kind === "pass") {
          this.commitsToCut--;
          this.stats.commitsCut++;
          // The server gets the COMMIT; the client never gets the answer.
          this.links.delete(link);
          this.stats.cut++;
          client.destroy();
          server.once("data", () => server.destroy());
          setTimeout(() => server.destroy(), 2_000).unref();
          return;
        }
      }
    });
    server.on("data", (chunk: Buffer) => toClient(chunk));
  }

  private forwarder(link: Link, to: Socket): (chunk: Buffer) => void {
    let chain = Promise.resolve();
    return (chunk) => {
      const mode = this.mode;
      if (mode.kind === "blackhole") {
        link.damaged = true;
        return;
      }
      if (mode.kind === "delay") {
        // Each chunk is held delayMs from its arrival (not from the previous one's release).
        const releaseAt = Date.now() + mode.delayMs;
        chain = chain.then(
          () => new Promise((r) => setTimeout(r, Math.max(0, releaseAt - Date.now()))),
        );
      }
      chain = chain.then(() => {
        if (!to.destroyed) to.write(chunk);
      });
    };
  }
}
