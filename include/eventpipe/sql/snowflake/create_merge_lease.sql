-- The lease that serializes the loaders' MERGE step (eventpipe.warehouse.snowflake_lock): one row, free when
-- holder is null or its lease has expired (a loader that died holding it blocks the others for one lease at most).
create table if not exists ops.merge_lease (
    lease_name varchar not null,
    holder varchar,
    expires_at timestamp_ntz
);

insert into ops.merge_lease (lease_name)
select 'raw_merge'
where
    not exists (
        select 1 from ops.merge_lease
        where lease_name = 'raw_merge'
    );
