import { CommanderError } from "commander";
import { AppError } from "../errors.ts";

/** Exit codes of every command; `--help` and the README document them. */
export const EXIT_CODE = {
  /** The command did what it was asked. */
  ok: 0,
  /** The command ran and the operation failed: a check or a row failed, wrong state, no database. */
  failed: 1,
  /** The command was called wrongly or given invalid input; running it again as is cannot help. */
  usage: 2,
} as const;

/** The exit code help text shared by `--help` and the README. */
export const EXIT_CODE_HELP = `Exit codes:
  0  success
  1  the operation failed: an app check or an imported row failed, an action in the wrong
     state, a name already taken, the database unavailable, or an unexpected error
  2  usage error or invalid input: unknown command or option, a missing or malformed value,
     an invalid policy or CSV header, or a tenant, token, action or user that does not exist`;

/** A mistake in how a command was called or in the input it was given (exit code 2). */
export class UsageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "UsageError";
  }
}

/** The exit code an error thrown by a command stands for. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof CommanderError) {
    // Help and version output end with 0; every parse error is a usage error.
    return error.exitCode === 0 ? EXIT_CODE.ok : EXIT_CODE.usage;
  }
  if (error instanceof UsageError) return EXIT_CODE.usage;
  if (error instanceof AppError) {
    // Invalid (400) or naming nothing (404): the input is wrong. Conflicts and outages: the
    // operation failed.
    return error.status === 400 || error.status === 404
      ? EXIT_CODE.usage
      : EXIT_CODE.failed;
  }
  return EXIT_CODE.failed;
}
