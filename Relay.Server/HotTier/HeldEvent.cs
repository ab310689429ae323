using Relay.Storage.Model;

namespace Relay.Server.HotTier;

/// One event of a stored answer: what ordering, merging, the private-kinds check and sending need.
/// From the tier, Raw points into its arena (still valid after the tier moves on: chunks are
/// dropped, never overwritten). The kind is given so that the check need not read the JSON.
internal readonly record struct HeldEvent(long CreatedAt, Key32 IdKey, ReadOnlyMemory<byte> Raw, int Kind)
{
    public static HeldEvent Of(NostrEvent e) => new(e.CreatedAt, e.IdKey, e.Raw, e.Kind);
}

/// A held event's fields, in RecentEvents' slot table: plain values, so the collector never traces
/// the table, however many events it holds.
internal struct HeldSlot
{
    public Key32 Id;
    public long CreatedAt;
    public long Expiration;    // long.MaxValue: none
    public long CommitSeq;
    public long TierSeq;
    public int Kind;
    public int Author;         // the author's TimeIndex number
    public int Chunk, Offset;  // its record in the arena
    public int RawLength;
    public int Gen;            // moves on when the slot is freed: index entries with the old one are dead
}
