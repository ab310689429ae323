using Relay.Storage.Model;

namespace Relay.Server.HotTier;

/// NIP-01's order of stored events, as PostgreSQL's ORDER BY gives it: created_at descending,
/// then id ascending (Key32 compares as the bytes do).
internal static class Nip01Order
{
    /// Negative when <paramref name="x"/> comes first (is newer).
    public static int NewestFirst(NostrEvent x, NostrEvent y)
    {
        var c = y.CreatedAt.CompareTo(x.CreatedAt);
        return c != 0 ? c : x.IdKey.CompareTo(y.IdKey);
    }
}
