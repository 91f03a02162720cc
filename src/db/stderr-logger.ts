import type { Logger, LoggerOptions } from "typeorm";
import { redactKnown } from "../config/redact.ts";

/**
 * TypeORM's console loggers write to stdout, which belongs to data (`--json`). This one sends
 * TypeORM's messages to stderr, honouring the same `logging` levels, with every known secret
 * hidden: a failed query's error can quote a value, and a value can be a password.
 */
export class StderrLogger implements Logger {
  constructor(private readonly options: LoggerOptions) {}

  private enabled(level: "query" | "error" | "schema" | "warn" | "info" | "log" | "migration") {
    if (this.options === "all" || this.options === true) return true;
    return Array.isArray(this.options) && this.options.includes(level);
  }

  private write(line: string) {
    process.stderr.write(`${redactKnown(line)}\n`);
  }

  logQuery(query: string) {
    if (this.enabled("query")) this.write(`query: ${query}`);
  }
  logQueryError(error: string | Error, query: string) {
    if (this.enabled("error")) this.write(`query failed: ${query}\n  error: ${String(error)}`);
  }
  logQuerySlow(time: number, query: string) {
    if (this.enabled("warn")) this.write(`slow query (${time} ms): ${query}`);
  }
  logSchemaBuild(message: string) {
    if (this.enabled("schema")) this.write(message);
  }
  logMigration(message: string) {
    if (this.enabled("migration")) this.write(message);
  }
  log(level: "log" | "info" | "warn", message: unknown) {
    if (this.enabled(level)) this.write(String(message));
  }
}
