ALTER TABLE orders ADD COLUMN note text;
/* a comment that never ends
ALTER TABLE orders DROP COLUMN legacy;
