-- Events keyed by id, with the fields filters select on and the compact JSON sent back to clients.
-- raw is bytea: it is sent as stored, and content may hold U+0000, which text refuses
-- (our JSON escapes it as \u0000, but bytes make that a non-question).
CREATE TABLE events (
    id          bytea   PRIMARY KEY,
    pubkey      bytea   NOT NULL,
    created_at  bigint  NOT NULL,
    kind        integer NOT NULL,
    -- NULL for regular events; '' for replaceable kinds; the d tag for addressable kinds (UTF-8).
    d_tag       bytea,
    expiration  bigint,
    raw         bytea   NOT NULL
);

CREATE INDEX events_created_at ON events (created_at DESC, id);
CREATE INDEX events_pubkey_kind_created_at ON events (pubkey, kind, created_at DESC);
CREATE INDEX events_kind_created_at ON events (kind, created_at DESC);
CREATE INDEX events_replaceable ON events (pubkey, kind, d_tag) WHERE d_tag IS NOT NULL;
CREATE INDEX events_expiration ON events (expiration) WHERE expiration IS NOT NULL;

-- Single-letter tags (the ones NIP-01 filters select by). Values are UTF-8 bytes for the same
-- reason as raw. created_at and kind are copied here so a #x filter is served by one index.
CREATE TABLE tags (
    event_id    bytea   NOT NULL,
    name        "char"  NOT NULL,
    value       bytea   NOT NULL,
    created_at  bigint  NOT NULL,
    kind        integer NOT NULL
);

CREATE INDEX tags_name_value_created_at ON tags (name, value, created_at DESC);
CREATE INDEX tags_event_id ON tags (event_id);
