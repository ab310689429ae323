namespace Relay.Server.Ingest;

/// How an event left the pipeline; <see cref="EventIngester.Finish"/> turns each into its OK
/// answer and metric in one place.
internal enum EventOutcome : byte
{
    /// Committed (OK true).
    Stored,
    /// Already stored, or a copy in flight was stored (OK true "duplicate:").
    Duplicate,
    /// Verified and broadcast, never stored (OK true).
    Ephemeral,
    /// Refused (OK false with the message's prefix).
    Rejected,
}
