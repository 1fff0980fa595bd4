-- One table into the read snapshot attached as `snapshot` ({schema} and {table} from read_snapshot_tables.sql).
create schema if not exists snapshot.{schema};
create table snapshot.{schema}.{table} as select * from {schema}.{table};  -- noqa: AM04
