/**
 * When a CronJob runs next, from its schedule and time zone, for the line that
 * says its next Job will use the new build. The schedule is read by croner (a
 * kept cron library) rather than a parser of our own; like Kubernetes', it
 * takes the five standard fields and the `@hourly`-style macros, and a day of
 * the month or of the week matches either (Vixie cron's OR).
 */
import { Cron } from "croner";

/**
 * The next run after `now` (ms), or undefined when the schedule or time zone
 * is not one croner reads (Kubernetes validated it, so that is rare).
 * Without a time zone the controller-manager's own is used; that is UTC on
 * most clusters, so UTC is assumed.
 */
export function nextRun(
  schedule: string,
  timeZone: string | undefined,
  now: number,
): Date | undefined {
  try {
    const cron = new Cron(schedule.trim(), {
      paused: true,
      timezone: timeZone ?? "Etc/UTC",
      domAndDow: false,
    });
    return cron.nextRun(new Date(now)) ?? undefined;
  } catch {
    return undefined;
  }
}

/** `2027-01-01 02:00 UTC`: minutes are what a schedule names. */
export function runTimeText(at: Date): string {
  return `${at.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}
