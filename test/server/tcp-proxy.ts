import { createServer, connect, type Server, type Socket } from "node:net";

/**
 * A TCP proxy in front of a server, for cutting the network under a client: `blackhole()`
 * keeps every connection open but lets nothing through (a partition: no error, no answer),
 * `refuse()` closes every connection and the port (a server that is down), `restore()` heals.
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private mode: "up" | "blackhole" | "refused" = "up";
  port = 0;

  private constructor(private readonly target: { host: string; port: number }) {}

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const proxy = new TcpProxy(target);
    await proxy.listen(0);
    return proxy;
  }

  /** Nothing passes any more, in either direction, and nothing is closed. */
  blackhole(): void {
    this.mode = "blackhole";
    for (const socket of this.sockets) {
      socket.unpipe();
      socket.removeAllListeners("data");
      socket.on("data", () => undefined);
    }
  }

  /** Every connection is reset and new ones are refused. */
  async refuse(): Promise<void> {
    this.mode = "refused";
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    const server = this.server;
    this.server = undefined;
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }

  /** Connections pass again; those held in a black hole are closed, as a healed network's peers would find. */
  async restore(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    this.mode = "up";
    if (!this.server) await this.listen(this.port);
  }

  async close(): Promise<void> {
    await this.refuse();
  }

  private listen(port: number): Promise<void> {
    const server = createServer((client) => this.accept(client));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        const address = server.address();
        if (address && typeof address !== "string") this.port = address.port;
        resolve();
      });
    });
  }

  private accept(client: Socket): void {
    this.sockets.add(client);
    client.on("error", () => undefined);
    client.on("close", () => this.sockets.delete(client));
    if (this.mode !== "up") {
      client.on("data", () => undefined);
      return;
    }
    const upstream = connect(this.target.port, this.target.host);
    this.sockets.add(upstream);
    upstream.on("error", () => client.destroy());
    upstream.on("close", () => {
      this.sockets.delete(upstream);
      if (this.mode === "up") client.destroy();
    });
    client.on("close", () => {
      if (this.mode === "up") upstream.destroy();
    });
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
