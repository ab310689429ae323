using Relay.Storage.Model;

namespace Relay.Server.HotTier;

/// NIP-01's order of stored events, as PostgreSQL's ORDER BY gives it: created_at descending,
/// then id ascending (Key32 compares as the bytes do).
internal static class Nip01Order
{
    /// Negative when x comes first (is newer).
    public static int NewestFirst(long xCreatedAt, in Key32 xId, long yCreatedAt, in Key32 yId)
    {
        var c = yCreatedAt.CompareTo(xCreatedAt);
        return c != 0 ? c : xId.CompareTo(yId);
    }

    public static int NewestFirst(HeldEvent x, HeldEvent y) => NewestFirst(x.CreatedAt, x.IdKey, y.CreatedAt, y.IdKey);
}
