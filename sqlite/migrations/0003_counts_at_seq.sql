-- Create moves a user's counters in the same write that gives out the seq
-- (the feeds upsert of statements.nextSeq): the trigger's second update of
-- the same feeds row, once per inserted notification, goes. Create is the
-- only insert into notifications; every notification it stores is unread
-- and unseen. Deletes and read or seen changes keep their triggers.
DROP TRIGGER notifications_counts_insert;
