import type { MigrationInterface, QueryRunner } from "typeorm";

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
