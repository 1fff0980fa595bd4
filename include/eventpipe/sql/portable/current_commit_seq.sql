-- The commit number this transaction took with advance_commit_seq.sql (its own write, visible to it alone until it
-- commits). max(): should two first loaders on a new warehouse both have inserted the sequence's row, both rows are
-- updated alike and stay equal.
select max(last_value) as commit_seq
from ops.load_sequence
where sequence_name = 'load_commit';
