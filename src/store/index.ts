export type * from "./store.js";
export { SqliteStore, type SqliteStoreOptions } from "./sqlite/sqlite-store.js";
export { openStore } from "./open-store.js";
export { encodeCursor, decodeCursor, type RunCursor } from "./cursor.js";
