import winston from "winston";

/** Structured operator log. Never pass tokens or request bodies here. */
export type Logger = winston.Logger;

const SECRET_KEYS = /^(authorization|token|password|secret|bootstrapToken)$/i;

const redact = winston.format((info) => {
  for (const key of Object.keys(info)) {
    if (SECRET_KEYS.test(key)) info[key] = "[redacted]";
  }
  return info;
});

/** Creates the JSON logger; `silent` for tests. */
export function createLogger(
  options: { level?: string; silent?: boolean } = {},
): Logger {
  return winston.createLogger({
    level: options.level ?? "info",
    silent: options.silent ?? false,
    format: winston.format.combine(
      redact(),
      winston.format.timestamp(),
      winston.format.errors({ stack: true }),
      winston.format.json(),
    ),
    defaultMeta: { service: "scim-lifecycle" },
    transports: [new winston.transports.Console()],
  });
}
