/** How the engine reports progress. It never prints: callers decide where lines go. */
export interface MigrateLogger {
  info(message: string): void;
  warn(message: string): void;
}

export const silentLogger: MigrateLogger = { info() {}, warn() {} };
