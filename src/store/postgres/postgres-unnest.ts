/** The PostgreSQL types a batch sends as arrays. */
export type PgType = "int" | "bigint" | "text" | "bool";

type ValueOf<T extends PgType> = T extends "text"
  ? string | null
  : T extends "bool"
    ? boolean
    : number | null;

export type Columns = Record<string, PgType>;
export type Row<C extends Columns> = { [K in keyof C]: ValueOf<C[K]> };
export type RowOf<S> = S extends UnnestSource<infer C> ? Row<C> : never;

/**
 * Rows sent as one array parameter per column and read back with `unnest(...)`: a whole batch
 * of rows is one statement whatever its size, with a fixed text, so the server prepares it once
 * per connection. The SQL fragment and the parameter order come from the same declaration.
 */
export class UnnestSource<C extends Columns> {
  /** `unnest($1::int[], $2::text[]) AS a(op, run_id)`, with `WITH ORDINALITY … ord` if asked. */
  readonly sql: string;
  /** The number of this source's first parameter (its first column's array). */
  readonly firstParam: number;
  /** The number of the first parameter after this source's. */
  readonly nextParam: number;
  private readonly names: Array<keyof C & string>;

  constructor(
    alias: string,
    columns: C,
    firstParam: number,
    options: { ordinality?: boolean } = {},
  ) {
    this.names = Object.keys(columns);
    this.firstParam = firstParam;
    const arrays = this.names.map((name, i) => `$${firstParam + i}::${columns[name]}[]`);
    const aliases = options.ordinality ? [...this.names, "ord"] : this.names;
    this.sql = `unnest(${arrays.join(", ")})${options.ordinality ? " WITH ORDINALITY" : ""} AS ${alias}(${aliases.join(", ")})`;
    this.nextParam = firstParam + this.names.length;
  }

  /** One array per column, in declaration order. */
  params(rows: ReadonlyArray<Row<C>>): unknown[][] {
    const arrays = this.names.map(() => new Array<unknown>(rows.length));
    rows.forEach((row, r) => {
      this.names.forEach((name, c) => {
        arrays[c]![r] = row[name];
      });
    });
    return arrays;
  }
}
