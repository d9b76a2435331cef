export { Webhooks, type WebhookOptions, type Subscription } from "./webhooks.js";
export type { AttemptReport } from "./dispatcher.js";
export type { SubscriptionInput } from "./subscription-input.js";
export type { WebhookRetryPolicy } from "./retry-schedule.js";
