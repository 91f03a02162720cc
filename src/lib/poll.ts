/**
 * The one polling loop: calls `attempt` until it returns a value (anything but undefined), every
 * `intervalMs`, and once more at the deadline; then `onTimeout` decides (it throws). An attempt may
 * throw to stop at once (a failure that waiting will not cure).
 */
export async function pollUntil<T>(
  attempt: (elapsedMs: number) => Promise<T | undefined>,
  options: {
    timeoutMs: number;
    intervalMs: number;
    onTimeout: (elapsedMs: number) => never;
  },
): Promise<T> {
  const started = Date.now();
  for (;;) {
    const result = await attempt(Date.now() - started);
    if (result !== undefined) return result;
    const elapsed = Date.now() - started;
    if (elapsed >= options.timeoutMs) return options.onTimeout(elapsed);
    // The last pause ends at the deadline, for one last attempt there.
    await Bun.sleep(Math.min(options.intervalMs, options.timeoutMs - elapsed));
  }
}
