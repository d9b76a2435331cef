import type { CliContext } from "../cli-context.js";
import { withoutPassword } from "../format.js";
import type { ServiceProcess } from "./service-process.js";

export interface DemoFacts {
  url: string;
  dataDir: string;
  db: string;
  services: { inventory: ServiceProcess; payments: ServiceProcess; shipping: ServiceProcess };
  ordersPerSecond: number;
  sampleOrderId: string;
  token: string | undefined;
  /** How payments is reached when not through Baton's own queue (`--amqp`). */
  paymentsVia?: string;
}

/** The banner `npm start` prints: where to look and what to try. */
export function demoHints(facts: DemoFacts, context: CliContext): string[] {
  const { out } = context;
  const { inventory, payments, shipping } = facts.services;
  const isDefaultUrl = facts.url === "http://127.0.0.1:7070";
  const auth = facts.token ? ` -H "Authorization: Bearer ${facts.token}"` : "";
  const service = (s: ServiceProcess, how: string): string =>
    `${s.name.padEnd(10)} ${how.padEnd(34)} ${out.dim(s.behaviour ?? "")}`;
  return [
    "",
    `${out.bold("Baton order demo")}  placeOrder = inventory.reserve → payments.charge → shipping.ship`,
    "",
    `  dashboard  ${out.cyan(`${facts.url}/`)}`,
    `  API        ${out.cyan(`${facts.url}/v1`)}  ${out.dim(`described at ${facts.url}/openapi.json`)}`,
    `  code       examples/order-demo/  ${out.dim("workflows.ts, inventory.ts, payments.ts, shipping.ts")}`,
    `  data       ${withoutPassword(facts.db).replace(/^sqlite:/, "")}  ${out.dim(`service logs and effects in ${facts.dataDir}/`)}`,
    "",
    `  services   ${service(inventory, `direct HTTP  127.0.0.1:${inventory.port ?? "?"}`)}`,
    `             ${service(payments, `${facts.paymentsVia ?? "durable queue"}, worker pid ${payments.pid ?? "?"}`)}`,
    `             ${service(shipping, `direct HTTP  127.0.0.1:${shipping.port ?? "?"}`)}`,
    "",
    facts.ordersPerSecond > 0
      ? `  about ${facts.ordersPerSecond} orders per second arrive through the API`
      : "  no orders arrive by themselves (--orders-per-second 0): start some below",
    "",
    out.bold("Try"),
    ...(isDefaultUrl ? [] : [`  export BATON_URL=${facts.url}`]),
    ...(facts.token ? [`  export BATON_API_TOKEN=${facts.token}`] : []),
    `  curl${auth} '${facts.url}/v1/runs?status=compensated'`,
    `  curl${auth} ${facts.url}/v1/services`,
    `  npx baton runs --status compensated`,
    `  npx baton show ${facts.ordersPerSecond > 0 ? facts.sampleOrderId : "<runId>"}`,
    `  npx baton run placeOrder --wait --input '{"orderId":"mine-1","sku":"LAMP-01","qty":1,"amount":39,"address":"1 Main St"}'`,
    "",
    out.dim("Ctrl-C stops the demo and its services."),
    "",
  ];
}
