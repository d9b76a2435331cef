/** Where a command writes: stdout for results, stderr for progress and errors. */
export interface Terminal {
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
}

/** The part of a tty.WriteStream the CLI uses, so tests and pipes fit too. */
export interface OutputStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export function processTerminal(): Terminal {
  return { stdout: process.stdout, stderr: process.stderr };
}

/**
 * ANSI styles, active only when the stream is a terminal and NO_COLOR is unset (FORCE_COLOR
 * forces them): piped output and files stay plain text.
 */
export class Style {
  readonly enabled: boolean;

  constructor(stream: OutputStream) {
    const env = process.env;
    this.enabled =
      env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "0"
        ? true
        : stream.isTTY === true && env.NO_COLOR === undefined && env.TERM !== "dumb";
  }

  bold = (text: string): string => this.wrap(1, 22, text);
  dim = (text: string): string => this.wrap(2, 22, text);
  red = (text: string): string => this.wrap(31, 39, text);
  green = (text: string): string => this.wrap(32, 39, text);
  yellow = (text: string): string => this.wrap(33, 39, text);
  blue = (text: string): string => this.wrap(34, 39, text);
  magenta = (text: string): string => this.wrap(35, 39, text);
  cyan = (text: string): string => this.wrap(36, 39, text);

  /** A status in the colour operators learn to scan for: green done, yellow rolled back, red needs a human. */
  status(status: string): string {
    switch (status) {
      case "completed":
        return this.green(status);
      case "compensated":
      case "cancelled":
        return this.yellow(status);
      case "failed":
        return this.red(status);
      case "compensating":
        return this.magenta(status);
      default:
        return this.cyan(status);
    }
  }

  private wrap(open: number, close: number, text: string): string {
    return this.enabled && text ? `\u001b[${open}m${text}\u001b[${close}m` : text;
  }
}
