namespace Relay.Server.Policies;

/// Limits on one filter beyond what the parser caps (NIP-11 publishes them).
internal static class FilterLimits
{
    public static FilterPolicy Values(int maxIds, int maxAuthors)
    {
        var ids = $"invalid: too many ids in a filter (max {maxIds})";
        var authors = $"invalid: too many authors in a filter (max {maxAuthors})";
        return (filters, _) =>
        {
            foreach (var f in filters)
            {
                if (f.Ids is { } i && i.Length > maxIds) return ids;
                if (f.Authors is { } a && a.Length > maxAuthors) return authors;
            }
            return null;
        };
    }
}
