import type { DeliveryAttempt, Subscription } from "baton/client";
import { useEffect, useState } from "react";
import { Dialog } from "../components/dialog.js";
import { describeError, useApi } from "../lib/api.js";
import { formatDateTime, formatDuration } from "../lib/format.js";
import { usePolling } from "../lib/hooks.js";
import { useRunAction } from "../lib/run-action.js";

const REFRESH_MS = 5_000;
/** Attempts shown per subscription. */
const RECENT = 10;

interface Listed {
  subscription: Subscription;
  deliveries: DeliveryAttempt[];
}

/** Webhook subscriptions: make one, remove one, and see each one's recent delivery attempts. */
export function WebhooksPage({ onTitle }: { onTitle: (title: string) => void }) {
  const api = useApi();
  const [listed, setListed] = useState<Listed[] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [isCreating, setCreating] = useState(false);
  const [created, setCreated] = useState<{ id: string; secret: string } | undefined>(undefined);
  const [refreshes, setRefreshes] = useState(0);

  useEffect(() => onTitle("Webhooks"), [onTitle]);

  usePolling(
    async (signal) => {
      try {
        const subscriptions = await api.call((client) => client.listSubscriptions());
        const withDeliveries = await Promise.all(
          subscriptions.map(async (subscription) => ({
            subscription,
            deliveries: await api.call((client) =>
              client.subscriptionDeliveries(subscription.id, { limit: RECENT }),
            ),
          })),
        );
        if (signal.aborted) return;
        setListed(withDeliveries);
        setError(undefined);
      } catch (e) {
        if (!signal.aborted) setError(describeError(e));
      }
    },
    REFRESH_MS,
    [api, refreshes],
  );
  const refresh = (): void => setRefreshes((n) => n + 1);

  return (
    <section className="page" aria-labelledby="page-title">
      <header className="page-header">
        <h1 id="page-title">Webhooks</h1>
        <p className="muted">
          Events POSTed to your URLs, signed (Standard Webhooks) and retried until a 2xx. Refreshed
          every {REFRESH_MS / 1000} s.
        </p>
        <div className="page-header-actions">
          <button type="button" className="button button-primary" onClick={() => setCreating(true)}>
            New subscription…
          </button>
        </div>
      </header>
      {error && (
        <p className="callout callout-error" role="alert">
          Could not load subscriptions: {error}
        </p>
      )}
      {created && (
        <div className="callout callout-warning" role="status" data-testid="new-secret">
          <p>
            Subscription <span className="mono">{created.id}</span> made. Its signing secret is
            shown only now — keep it where your receiver can read it:
          </p>
          <p className="mono secret">{created.secret}</p>
          <button
            type="button"
            className="button button-small"
            onClick={() => setCreated(undefined)}
          >
            Done
          </button>
        </div>
      )}
      {listed && listed.length === 0 && (
        <p className="empty">No subscriptions. Make one to have events POSTed to a URL.</p>
      )}
      <ul className="cards subscription-cards" aria-label="Subscriptions">
        {listed?.map(({ subscription, deliveries }) => (
          <SubscriptionCard
            key={subscription.id}
            subscription={subscription}
            deliveries={deliveries}
            onDeleted={refresh}
          />
        ))}
      </ul>
      {isCreating && (
        <CreateDialog
          onClose={() => setCreating(false)}
          onCreated={(made) => {
            setCreating(false);
            setCreated(made);
            refresh();
          }}
        />
      )}
    </section>
  );
}

function SubscriptionCard({
  subscription,
  deliveries,
  onDeleted,
}: {
  subscription: Subscription;
  deliveries: DeliveryAttempt[];
  onDeleted: () => void;
}) {
  const api = useApi();
  const [isConfirming, setConfirming] = useState(false);
  const { isBusy, act } = useRunAction(() => {
    setConfirming(false);
    onDeleted();
  });
  const latest = deliveries[0];
  const health = latest === undefined ? "good" : latest.nextAttemptAt === null ? "good" : "bad";
  return (
    <li className={`card subscription-card health-${health}`} data-subscription={subscription.id}>
      <header className="card-header">
        <h2 className="mono subscription-url">{subscription.url}</h2>
        <button
          type="button"
          className="button button-small button-danger"
          onClick={() => setConfirming(true)}
        >
          Delete…
        </button>
      </header>
      <p>
        {subscription.topics.map((topic) => (
          <span key={topic} className="chip mono">
            {topic}
          </span>
        ))}
      </p>
      <p className="muted">
        <span className="mono">{subscription.id}</span> · since{" "}
        {formatDateTime(subscription.createdAt)}
      </p>
      {deliveries.length === 0 ? (
        <p className="empty">No deliveries yet.</p>
      ) : (
        <div className="table-wrap">
          <table className="table" data-testid="deliveries">
            <caption className="visually-hidden">Recent delivery attempts</caption>
            <thead>
              <tr>
                <th scope="col">Event</th>
                <th scope="col">Attempt</th>
                <th scope="col">Result</th>
                <th scope="col">Took</th>
                <th scope="col">At</th>
                <th scope="col">Next attempt</th>
              </tr>
            </thead>
            <tbody>
              {deliveries.map((d) => (
                <tr
                  key={`${d.eventId}-${d.attempt}`}
                  data-event={d.eventId}
                  data-outcome={d.nextAttemptAt === null ? "delivered" : "failed"}
                >
                  <td className="mono">{d.eventId}</td>
                  <td>{d.attempt}</td>
                  <td>
                    <span
                      className={`chip delivery-${d.nextAttemptAt === null ? "delivered" : "failed"}`}
                    >
                      {d.nextAttemptAt === null
                        ? `${d.statusCode ?? ""} delivered`
                        : (d.error ?? "failed")}
                    </span>
                  </td>
                  <td>{formatDuration(d.durationMs)}</td>
                  <td>{formatDateTime(d.at)}</td>
                  <td>{d.nextAttemptAt === null ? "—" : formatDateTime(d.nextAttemptAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {isConfirming && (
        <Dialog
          title="Delete this subscription?"
          description={
            <p>
              Events stop going to <span className="mono">{subscription.url}</span>; deliveries not
              yet made are dropped, and its attempts are forgotten. This cannot be undone.
            </p>
          }
          submitLabel="Delete subscription"
          submitKind="danger"
          isBusy={isBusy}
          onClose={() => setConfirming(false)}
          onSubmit={() =>
            void act(
              "delete the subscription",
              () => api.call((client) => client.deleteSubscription(subscription.id)),
              `Subscription ${subscription.id} deleted.`,
            )
          }
        />
      )}
    </li>
  );
}

function CreateDialog({
  onClose,
  onCreated,
}: {
  onClose: () => void;
  onCreated: (created: { id: string; secret: string }) => void;
}) {
  const api = useApi();
  const [url, setUrl] = useState("");
  const [topics, setTopics] = useState("");
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const [isBusy, setBusy] = useState(false);
  const submit = async (): Promise<void> => {
    const patterns = topics
      .split(/[\s,]+/)
      .map((t) => t.trim())
      .filter(Boolean);
    setBusy(true);
    try {
      // The server checks url and topics and says what is wrong: shown here as it says it.
      const made = await api.call((client) =>
        client.createSubscription({ url: url.trim(), topics: patterns }),
      );
      onCreated({ id: made.id, secret: made.secret });
    } catch (e) {
      setProblem(describeError(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog
      title="New webhook subscription"
      description={
        <p>Every event committed from now on whose topic matches is POSTed to the URL.</p>
      }
      submitLabel="Subscribe"
      isBusy={isBusy}
      onClose={onClose}
      onSubmit={() => void submit()}
    >
      <div className="field">
        <label htmlFor="subscription-url">URL</label>
        <input
          id="subscription-url"
          value={url}
          autoFocus
          spellCheck={false}
          placeholder="https://ops.example.com/baton"
          aria-invalid={problem !== undefined}
          aria-describedby={problem !== undefined ? "subscription-problem" : undefined}
          onChange={(event) => {
            setUrl(event.target.value);
            setProblem(undefined);
          }}
        />
      </div>
      <div className="field">
        <label htmlFor="subscription-topics">Topics (comma-separated; * matches one segment)</label>
        <input
          id="subscription-topics"
          value={topics}
          spellCheck={false}
          placeholder="run.failed, order.*"
          aria-invalid={problem !== undefined}
          onChange={(event) => {
            setTopics(event.target.value);
            setProblem(undefined);
          }}
        />
      </div>
      {problem && (
        <p id="subscription-problem" className="field-problem" role="alert">
          {problem}
        </p>
      )}
    </Dialog>
  );
}
