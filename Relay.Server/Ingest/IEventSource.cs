using Relay.Server.Policies;

namespace Relay.Server.Ingest;

/// Who sent an event and how to answer it: a WebSocket connection, or `relay import` and tests,
/// which use the same path (policies, dedupe, verify, batched write) without a socket.
internal interface IEventSource
{
    ConnectionSession Session { get; }

    /// Cancelled when the sender goes away: its waits in the pipeline stop.
    CancellationToken Aborted { get; }

    /// The event's fate, as NIP-01's OK: accepted or not, and a message with its prefix.
    void Answer(string eventId, bool accepted, string message);

    /// `relay import --no-verify`: the operator vouches for a dump's signatures, so the verifier
    /// skips the BIP-340 check (ids are still recomputed by the parser).
    bool SignaturesTrusted => false;
}
