import { z } from "zod";

const LOG_LEVELS = [
  "error",
  "warn",
  "info",
  "http",
  "verbose",
  "debug",
  "silly",
] as const;

const ConfigSchema = z.object({
  port: z.coerce.number().int().min(0).max(65535).default(8080),
  host: z.string().min(1).default("0.0.0.0"),
  databaseUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL")
    .optional(),
  dataDir: z.string().min(1).default("./data"),
  databasePoolMax: z.coerce.number().int().min(1).max(200).default(10),
  logLevel: z.enum(LOG_LEVELS).default("info"),
  bootstrapToken: z
    .string()
    .min(32, "must be at least 32 characters")
    .optional(),
  publicBaseUrl: z.url().optional(),
  maxBodyBytes: z.coerce.number().int().min(1024).default(1_048_576),
  webConcurrency: z.coerce.number().int().min(1).max(64).default(1),
  trustProxy: z
    .enum(["true", "false"])
    .default("false")
    .transform((v) => v === "true"),
  lifecycleConfig: z.string().min(1).optional(),
  workerConcurrency: z.coerce.number().int().min(1).max(256).default(16),
  actionLeaseMs: z.coerce
    .number()
    .int()
    .min(1_000)
    .max(600_000)
    .default(30_000),
  outboundAllowLinkLocal: z
    .enum(["true", "false"])
    .default("false")
    .transform((v) => v === "true"),
  // A scraper's bearer token; short ones are guessable, and /metrics shows queue sizes per app.
  metricsToken: z.string().min(16, "must be at least 16 characters").optional(),
  // Kubernetes waits 30 s after SIGTERM by default: finish inside it, with room to spare.
  shutdownTimeoutMs: z.coerce
    .number()
    .int()
    .min(1_000)
    .max(600_000)
    .default(25_000),
});

/** Validated process configuration. */
export type Config = z.infer<typeof ConfigSchema>;

/** Reads and validates the environment once; throws listing every problem. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const raw = {
    port: env.PORT,
    host: env.HOST,
    databaseUrl: env.DATABASE_URL || undefined,
    dataDir: env.DATA_DIR,
    databasePoolMax: env.DATABASE_POOL_MAX,
    logLevel: env.LOG_LEVEL,
    bootstrapToken: env.SCIM_BOOTSTRAP_TOKEN || undefined,
    publicBaseUrl: env.PUBLIC_BASE_URL || undefined,
    maxBodyBytes: env.MAX_BODY_BYTES,
    trustProxy: env.TRUST_PROXY,
    webConcurrency: env.WEB_CONCURRENCY,
    lifecycleConfig: env.SCIM_LIFECYCLE_CONFIG || undefined,
    workerConcurrency: env.WORKER_CONCURRENCY,
    actionLeaseMs: env.ACTION_LEASE_MS,
    outboundAllowLinkLocal: env.OUTBOUND_ALLOW_LINK_LOCAL,
    metricsToken: env.METRICS_TOKEN || undefined,
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
  };
  const parsed = ConfigSchema.refine(
    (c) => c.webConcurrency === 1 || c.databaseUrl,
    {
      message:
        "more than one process needs PostgreSQL (set DATABASE_URL); the embedded database is single-process",
      path: ["webConcurrency"],
    },
  ).safeParse(raw);
  if (!parsed.success) {
    const names: Record<string, string> = {
      port: "PORT",
      host: "HOST",
      databaseUrl: "DATABASE_URL",
      dataDir: "DATA_DIR",
      databasePoolMax: "DATABASE_POOL_MAX",
      logLevel: "LOG_LEVEL",
      bootstrapToken: "SCIM_BOOTSTRAP_TOKEN",
      publicBaseUrl: "PUBLIC_BASE_URL",
      maxBodyBytes: "MAX_BODY_BYTES",
      trustProxy: "TRUST_PROXY",
      webConcurrency: "WEB_CONCURRENCY",
      lifecycleConfig: "SCIM_LIFECYCLE_CONFIG",
      workerConcurrency: "WORKER_CONCURRENCY",
      actionLeaseMs: "ACTION_LEASE_MS",
      outboundAllowLinkLocal: "OUTBOUND_ALLOW_LINK_LOCAL",
      metricsToken: "METRICS_TOKEN",
      shutdownTimeoutMs: "SHUTDOWN_TIMEOUT_MS",
    };
    const problems = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? "");
      return `${names[key] ?? key}: ${issue.message}`;
    });
    throw new Error(`Invalid configuration:\n  ${problems.join("\n  ")}`);
  }
  return parsed.data;
}

/**
 * Reads the secrets apps name as `{ env: NAME }` in the lifecycle config, when the app is used.
 * The values are handed to connectors only; they are never stored or logged.
 */
export function createSecretReader(
  env: NodeJS.ProcessEnv = process.env,
): (name: string) => string | undefined {
  return (name) => env[name];
}
