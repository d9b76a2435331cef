import { Baton, silentLogger, type BatonOptions } from "../../src/index.js";
import { tempDbUrl } from "./temp-db.js";

/** Opens engines on temp SQLite files and closes and removes them after each test. */
export function batonFixture() {
  const opened: Baton[] = [];
  const dirs: Array<() => void> = [];
  return {
    db(): string {
      const db = tempDbUrl();
      dirs.push(db.cleanup);
      return db.url;
    },
    async open(options: BatonOptions): Promise<Baton> {
      // Quiet by default: tests assert on outcomes, not on log lines.
      const baton = await Baton.open({ logger: silentLogger, ...options });
      opened.push(baton);
      return baton;
    },
    async cleanup(): Promise<void> {
      for (const baton of opened.splice(0)) await baton.close();
      for (const remove of dirs.splice(0)) remove();
    },
  };
}
