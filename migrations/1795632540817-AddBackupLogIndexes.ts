import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * Indexes for what every audit query filters by: a project's runs by start time, and runs by status.
 *
 * squawk-ignore require-concurrent-index-creation: backup_log holds one row per backup run
 * (thousands, not millions), so a plain build takes milliseconds; CONCURRENTLY cannot run inside
 * the migration's transaction, which keeps a failed build from leaving an invalid index behind.
 */
export class AddBackupLogIndexes1795632540817 implements MigrationInterface {
  name = "AddBackupLogIndexes1795632540817";

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE INDEX "IDX_backup_log_status" ON "backup_log"  ("status")`);
    await queryRunner.query(
      `CREATE INDEX "IDX_backup_log_project_name_started_at" ON "backup_log"  ("project_name", "started_at")`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."IDX_backup_log_project_name_started_at"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_backup_log_status"`);
  }
}
