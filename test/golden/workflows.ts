import { StepFailedError, workflow, type CompensationFailurePolicy } from "../../src/index.js";

/**
 * The workflows whose journals are recorded in test/golden/*.json. Their code must keep
 * matching those journals: change behaviour by adding a new workflow and a new recording,
 * never by editing these.
 *
 * `live` decides what a step does when it really runs. While replaying a golden journal it
 * throws: every recorded operation must come from the journal, not from running again.
 */
export const goldenMode = { live: true };

function body<T>(value: T): () => T {
  return () => {
    if (!goldenMode.live)
      throw new Error("a recorded step ran again while replaying a golden journal");
    return value;
  };
}

export const goldenOrder = workflow(
  "goldenOrder",
  async (ctx, input: { orderId: string; failShip: boolean }) => {
    const reservation = await ctx.step("reserve", body({ reservationId: `res-${input.orderId}` }), {
      compensate: (r) => ctx.step("release", body({ released: r.reservationId })),
    });
    const payment = await ctx.step(
      "charge",
      body({ paymentId: `pay-${input.orderId}`, amount: 4321 }),
      {
        compensate: (p) => ctx.step("refund", body({ refunded: p.paymentId })),
      },
    );
    await ctx.sleep(10);
    const approval = await ctx.waitForSignal<{ by: string }>("approve");
    const stamp = { at: ctx.now(), id: ctx.uuid(), luck: ctx.random() };
    const shipment = await ctx.step(
      "ship",
      input.failShip
        ? () => {
            throw new StepFailedError("no carrier", { code: "NO_CARRIER" });
          }
        : body({ trackingId: `trk-${input.orderId}` }),
    );
    return { reservation, payment, approval, stamp, shipment };
  },
);

export const goldenFanOut = workflow("goldenFanOut", async (ctx) => {
  const parts = await Promise.all([
    ctx.step("a", body(1)),
    ctx.step("b", body(2)),
    ctx.child(goldenChild, { n: 3 }),
  ]);
  const first = await Promise.race([
    ctx.sleep(60_000).then(() => "timer"),
    ctx.step("quick", body("quick")),
  ]);
  return { parts, first };
});

export const goldenChild = workflow("goldenChild", async (ctx, input: { n: number }) =>
  ctx.step("square", body(input.n * input.n)),
);

/** v0.2: a rollback whose refund fails for good, handled by `policy`; `deadline` from the start. */
export const goldenRollback = workflow(
  "goldenRollback",
  async (ctx, input: { orderId: string; policy: CompensationFailurePolicy }) => {
    await ctx.step("reserve", body({ reservationId: `res-${input.orderId}` }), {
      compensate: (r) => ctx.step("release", body({ released: r.reservationId })),
    });
    await ctx.step("charge", body({ paymentId: `pay-${input.orderId}` }), {
      compensate: () =>
        ctx.step(
          "refund",
          () => {
            throw new StepFailedError("refund refused", { code: "REFUND_REFUSED" });
          },
          { retry: { maxAttempts: 1 } },
        ),
      onCompensationFailure: input.policy,
    });
    await ctx.waitForSignal("approve");
    await ctx.step("ship", () => {
      throw new StepFailedError("no carrier", { code: "NO_CARRIER" });
    });
  },
);

/** Loops until its journal reaches the history limit; its one compensation then runs. */
export const goldenHistoryLimit = workflow(
  "goldenHistoryLimit",
  async (ctx) => {
    await ctx.step("reserve", body({ held: true }), {
      compensate: () => ctx.step("release", body({ released: true })),
    });
    for (let i = 0; i < 1_000; i++) await ctx.step("tick", body(i));
    return "never";
  },
  { limits: { maxHistory: 12 } },
);

export const GOLDEN_WORKFLOWS = [
  goldenOrder,
  goldenFanOut,
  goldenChild,
  goldenRollback,
  goldenHistoryLimit,
];
