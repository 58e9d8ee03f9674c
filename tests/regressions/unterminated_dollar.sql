-- The dollar quote never closes: the DROP COLUMN after it was never judged.
CREATE FUNCTION f() RETURNS int AS $body$
  SELECT 1;
ALTER TABLE orders DROP COLUMN note;
