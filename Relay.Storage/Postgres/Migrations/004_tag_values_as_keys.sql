-- Tag values in the form TagValueKey writes: 64 lowercase hex characters as their 32 bytes;
-- any other value of exactly 32 bytes gets 0xFF appended. Order matters: mark the 32-byte text
-- values first, while every 32-byte value is still text.
UPDATE tags SET value = value || '\xff'::bytea WHERE length(value) = 32;
UPDATE tags SET value = decode(convert_from(value, 'UTF8'), 'hex')
WHERE length(value) = 64
  -- CASE fixes the order: convert_from refuses a NUL byte (and such a value is not hex anyway).
  AND CASE WHEN position('\x00'::bytea IN value) = 0 THEN convert_from(value, 'UTF8') ~ '^[0-9a-f]{64}$' ELSE false END;
-- The updates left every converted entry twice in the index; rebuild it compact.
REINDEX INDEX tags_lookup;
