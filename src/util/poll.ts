/**
 * Reads `read` until it gives an answer (anything but undefined), every `everyMs`, and no longer
 * than until `deadline` (a Date.now() time): its last read is the first one at or past it. Resolves
 * the answer, or undefined when the deadline came first. For state that catches up on its own, such
 * as a broker's metadata after the controller has changed it.
 */
export async function pollUntil<T>(deadline: number, read: () => Promise<T | undefined>, everyMs = 200): Promise<T | undefined> {
  for (;;) {
    const answer = await read();
    if (answer !== undefined) return answer;
    if (Date.now() >= deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
