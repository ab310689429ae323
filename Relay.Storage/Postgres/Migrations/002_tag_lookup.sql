-- Tag filters are served from the tag rows alone, newest first: (name, value) then created_at
-- and event_id in the order REQ answers need, with kind carried along so `kinds` + `#p` is
-- checked without visiting events that don't match.
DROP INDEX tags_name_value_created_at;
CREATE INDEX tags_lookup ON tags (name, value, created_at DESC, event_id) INCLUDE (kind);
