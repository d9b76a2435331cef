import { BatonClient, BatonClientError } from "baton/client";
import {
  createContext,
  useCallback,
  useContext,
  useMemo,
  useRef,
  useState,
  type ReactNode,
} from "react";
import { TokenDialog } from "../components/token-dialog.js";

/**
 * The dashboard's only way to the server: a BatonClient on this page's origin. When the server
 * wants a token (401) or refuses the one we have (403), the first call to notice asks for it
 * once; every call waiting meanwhile continues with the token given. The token stays in this
 * tab (sessionStorage), or on this device (localStorage) when the user asks for that.
 */

const TOKEN_KEY = "baton.token";

export interface Api {
  /** Calls the API; an auth refusal asks for the token and tries again with it. */
  call<T>(fn: (client: BatonClient) => Promise<T>): Promise<T>;
  /**
   * Follows a stream (streamRun, events) until `signal` aborts or it ends; an auth refusal
   * asks for the token and opens it again.
   */
  follow<T>(
    open: (client: BatonClient, signal: AbortSignal) => AsyncIterable<T>,
    onItem: (item: T) => void,
    signal: AbortSignal,
  ): Promise<void>;
  /** Whether a token is kept (so the header offers to forget it). */
  hasToken: boolean;
  forgetToken(): void;
}

const ApiContext = createContext<Api | undefined>(undefined);

export function useApi(): Api {
  const api = useContext(ApiContext);
  if (!api) throw new Error("useApi outside ApiProvider");
  return api;
}

export function isAuthError(e: unknown): e is BatonClientError {
  return e instanceof BatonClientError && (e.httpStatus === 401 || e.httpStatus === 403);
}

function readToken(): string | undefined {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? localStorage.getItem(TOKEN_KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

function storeToken(token: string | undefined, remember: boolean): void {
  try {
    sessionStorage.removeItem(TOKEN_KEY);
    localStorage.removeItem(TOKEN_KEY);
    if (token !== undefined) (remember ? localStorage : sessionStorage).setItem(TOKEN_KEY, token);
  } catch {
    // Storage can be off (private windows): the token then lasts as long as the page.
  }
}

function makeClient(token: string | undefined): BatonClient {
  return new BatonClient({
    url: window.location.origin,
    ...(token !== undefined ? { token } : {}),
  });
}

interface Prompt {
  reason: string;
  /** Settles every call that waits for this prompt. */
  waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }>;
  error: unknown;
}

export function ApiProvider({ children }: { children: ReactNode }) {
  const token = useRef(readToken());
  const client = useRef(makeClient(token.current));
  const [hasToken, setHasToken] = useState(token.current !== undefined);
  const [prompt, setPrompt] = useState<Prompt | undefined>(undefined);
  const promptRef = useRef<Prompt | undefined>(undefined);

  /** Resolves once the user gave a token; rejects with `cause` if they dismissed the prompt. */
  const waitForToken = useCallback((cause: BatonClientError): Promise<void> => {
    return new Promise<void>((resolve, reject) => {
      const open = promptRef.current;
      if (open) {
        open.waiters.push({ resolve, reject });
        return;
      }
      const reason =
        cause.httpStatus === 403 && token.current !== undefined
          ? "The server refused this token. Enter the right one."
          : "This server needs an API token.";
      const next: Prompt = { reason, waiters: [{ resolve, reject }], error: cause };
      promptRef.current = next;
      setPrompt(next);
    });
  }, []);

  const settlePrompt = useCallback((given: { token: string; remember: boolean } | undefined) => {
    const open = promptRef.current;
    promptRef.current = undefined;
    setPrompt(undefined);
    if (!open) return;
    if (given) {
      token.current = given.token;
      client.current = makeClient(given.token);
      storeToken(given.token, given.remember);
      setHasToken(true);
      for (const waiter of open.waiters) waiter.resolve();
    } else {
      for (const waiter of open.waiters) waiter.reject(open.error);
    }
  }, []);

  const call = useCallback(
    async <T,>(fn: (client: BatonClient) => Promise<T>): Promise<T> => {
      for (;;) {
        const used = client.current;
        try {
          return await fn(used);
        } catch (e) {
          if (!isAuthError(e)) throw e;
          // Another call may have fixed the token while this one was out.
          if (client.current === used) await waitForToken(e);
        }
      }
    },
    [waitForToken],
  );

  const follow = useCallback(
    async <T,>(
      open: (client: BatonClient, signal: AbortSignal) => AsyncIterable<T>,
      onItem: (item: T) => void,
      signal: AbortSignal,
    ): Promise<void> => {
      for (;;) {
        const used = client.current;
        try {
          for await (const item of open(used, signal)) {
            if (signal.aborted) return;
            onItem(item);
          }
          return;
        } catch (e) {
          if (signal.aborted) return;
          if (!isAuthError(e)) throw e;
          if (client.current === used) await waitForToken(e);
        }
      }
    },
    [waitForToken],
  );

  const forgetToken = useCallback(() => {
    token.current = undefined;
    client.current = makeClient(undefined);
    storeToken(undefined, false);
    setHasToken(false);
  }, []);

  const api = useMemo<Api>(
    () => ({ call, follow, hasToken, forgetToken }),
    [call, follow, hasToken, forgetToken],
  );

  return (
    <ApiContext.Provider value={api}>
      {children}
      {prompt && (
        <TokenDialog
          reason={prompt.reason}
          onSubmit={(given) => settlePrompt(given)}
          onCancel={() => settlePrompt(undefined)}
        />
      )}
    </ApiContext.Provider>
  );
}

/** A message for an error shown to the user: the server's code and words when it sent them. */
export function describeError(e: unknown): string {
  if (e instanceof BatonClientError) return `${e.message} (${e.code})`;
  if (e instanceof Error) return e.message;
  return String(e);
}
