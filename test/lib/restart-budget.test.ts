import { describe, expect, it } from "vitest";
import { DEFAULT_RESTART_BUDGET, restartBudget } from "../../src/lib/restart-budget.js";

describe("restartBudget", () => {
  it("replaces a first death at once, backs off the next ones, and calls the fifth within 60 s a crash loop", () => {
    const budget = restartBudget();
    expect([0, 1_000, 2_000, 3_000].map((at) => budget.recordDeath(at))).toEqual([
      { replaceAfterMs: 0 },
      { replaceAfterMs: 250 },
      { replaceAfterMs: 500 },
      { replaceAfterMs: 1_000 },
    ]);
    expect(budget.recordDeath(59_999)).toEqual({ crashLoop: 5 });
  });

  it("forgets deaths older than the window: five deaths spread over more than 60 s are no loop", () => {
    const budget = restartBudget();
    for (const at of [0, 20_000, 40_000, 55_000]) budget.recordDeath(at);
    // The death at 0 has left the window by 60,000: four in it, not five.
    expect(budget.recordDeath(60_000)).toEqual({ replaceAfterMs: 1_000 });
    expect(budget.recordDeath(61_000)).toEqual({ crashLoop: 5 });
  });

  it("caps the delay", () => {
    const budget = restartBudget({ ...DEFAULT_RESTART_BUDGET, maxDeaths: 100, maxDelayMs: 2_000 });
    let last = { replaceAfterMs: 0 } as ReturnType<typeof budget.recordDeath>;
    for (let i = 0; i < 10; i += 1) last = budget.recordDeath(i);
    expect(last).toEqual({ replaceAfterMs: 2_000 });
  });
});
