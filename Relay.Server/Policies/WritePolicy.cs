using Relay.Storage.Model;

namespace Relay.Server.Policies;

/// One write rule: null to go on, or the rejection with its NIP-01 prefix (`blocked: …`).
/// Runs before the signature check (the event's id is already checked, its signature not yet),
/// so a rule must not trust who the author is for anything but refusing: a refused event costs
/// no verify and no write, and an accepted one is still verified before it is stored.
internal delegate string? WritePolicy(NostrEvent e, ConnectionSession session, long now);

/// One read rule for REQ and COUNT: null to go on, or the CLOSED message with its prefix.
internal delegate string? FilterPolicy(NostrFilter[] filters, ConnectionSession session);

/// One rule run before the WebSocket upgrade, where the client's address is known: null to go
/// on, or the HTTP status and reason to answer instead of 101.
internal delegate (int Status, string Reason)? ConnectionPolicy(ConnectionSession session);
