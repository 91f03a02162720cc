import { type MigrationInterface, type QueryRunner, TableColumn } from "typeorm";

/** Records whether a run was a database dump or a file snapshot. Applied in the field: never edit. */
export class AddBackupTypeToBackupLog1742467200000 implements MigrationInterface {
  name = "AddBackupTypeToBackupLog1742467200000";

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumn(
      "backup_log",
      new TableColumn({ name: "backup_type", type: "varchar", isNullable: true }),
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumn("backup_log", "backup_type");
  }
}
