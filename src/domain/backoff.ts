/** First retry delay of a failed action. */
export const ACTION_RETRY_BASE_MS = 10_000;
/** Longest retry delay. */
export const ACTION_RETRY_MAX_MS = 3_600_000;

/**
 * The delay before retry number `attempt` (1 = after the first failure): exponential, capped,
 * with "equal jitter" (half fixed, half random) so that many actions failing together (an app
 * outage) do not come back in one burst.
 */
export function retryDelayMs(
  attempt: number,
  random: () => number = Math.random,
): number {
  const exponential = Math.min(
    ACTION_RETRY_MAX_MS,
    ACTION_RETRY_BASE_MS * 2 ** Math.max(0, attempt - 1),
  );
  return Math.round(exponential / 2 + (random() * exponential) / 2);
}
