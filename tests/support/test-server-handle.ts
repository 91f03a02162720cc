import type { EmbeddedServer } from "../../src/devdb/embedded-server.ts";

/** The run's PostgreSQL once started (see server.ts), for the preload to stop at the end. */
export const TEST_SERVER: { current?: EmbeddedServer } = {};
