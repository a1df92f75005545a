/**
 * The one lifecycle of an engine's event stream, Docker's and containerd's
 * alike: events until `signal` aborts (then it returns quietly), and a
 * UserError naming the daemon when the stream breaks or the daemon ends it.
 * The caller then reconnects and diffs snapshots; no stream is ever replayed.
 */
import { errorMessage, ExitCode, UserError } from "../util/errors.ts";

/** `Lost the event stream of <where>: <detail>`, for a stream that broke. */
export function lostStream(
  where: string,
  error: unknown,
  detail: string = errorMessage(error),
): UserError {
  return new UserError(`Lost the event stream of ${where}: ${detail}`, ExitCode.engine, {
    cause: error,
  });
}

/**
 * Follows the stream `open` starts. `where` names the daemon in messages;
 * `broken` turns a failure of the stream (not a UserError) into one, by
 * default `lostStream`. A UserError from `open` or the stream passes as is.
 */
export async function* followStream<T>(
  where: string,
  signal: AbortSignal,
  open: () => AsyncIterable<T> | Promise<AsyncIterable<T>>,
  broken: (error: unknown) => UserError = (error) => lostStream(where, error),
): AsyncGenerator<T> {
  if (signal.aborted) return;
  let stream: AsyncIterable<T>;
  try {
    stream = await open();
  } catch (error) {
    if (signal.aborted) return;
    throw error;
  }
  try {
    for await (const item of stream) yield item;
  } catch (error) {
    if (signal.aborted) return;
    throw error instanceof UserError ? error : broken(error);
  }
  if (signal.aborted) return;
  // Daemons end the stream only when they stop.
  throw new UserError(`${where} closed the event stream`, ExitCode.engine);
}
