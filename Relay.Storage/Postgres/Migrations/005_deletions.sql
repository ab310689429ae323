-- NIP-09 and NIP-62: what authors asked to delete stays refused. Each row applies only to the
-- author who asked (pubkey), and the writer checks these tables in the same statement that
-- inserts, so a deleted event republished (to any relay process) is never stored again.

-- `e` tags of kind-5 events: that author's event with this id.
CREATE TABLE deleted_events (
    event_id  bytea NOT NULL,
    pubkey    bytea NOT NULL,
    PRIMARY KEY (event_id, pubkey)
);

-- `a` tags of kind-5 events: versions of the address dated up to `until`.
CREATE TABLE deleted_addresses (
    pubkey  bytea   NOT NULL,
    kind    integer NOT NULL,
    d_tag   bytea   NOT NULL,
    until   bigint  NOT NULL,
    PRIMARY KEY (pubkey, kind, d_tag)
);

-- Kind-62 requests to vanish: everything of the author dated up to `until`.
CREATE TABLE vanished (
    pubkey  bytea  PRIMARY KEY,
    until   bigint NOT NULL
);
