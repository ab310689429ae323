namespace Relay.Storage.Model;

/// What NIP-09 deletion requests (kind 5) and NIP-62 requests to vanish (kind 62) name.
public static class DeletionRequests
{
    /// `e` tags: ids of the author's events to delete.
    public static IEnumerable<string> EventIds(NostrEvent deletion)
    {
        foreach (var t in deletion.Tags)
            if (t.Length >= 2 && t[0] == "e" && Hex.IsLowerHex(t[1], 64)) yield return t[1];
    }

    /// `a` tags (`kind:pubkey:d`) of the deletion's own author: the addresses to delete. Another
    /// author's address is ignored (NIP-09: a deletion applies only to its author's events).
    public static IEnumerable<(int Kind, string DTag)> Addresses(NostrEvent deletion)
    {
        foreach (var t in deletion.Tags)
        {
            if (t.Length < 2 || t[0] != "a") continue;
            var parts = t[1].Split(':', 3);
            if (parts.Length < 2 || parts[1] != deletion.Pubkey || !int.TryParse(parts[0], out var kind)) continue;
            var cls = Kinds.Classify(kind);
            if (cls is KindClass.Replaceable) yield return (kind, "");
            else if (cls is KindClass.Addressable) yield return (kind, parts.Length == 3 ? parts[2] : "");
        }
    }

    /// True if <paramref name="request"/> (kind 5 or 62) deletes <paramref name="target"/>.
    public static bool Deletes(NostrEvent request, NostrEvent target, string? relayUrl)
    {
        if (request.Pubkey != target.Pubkey) return false;
        if (request.Kind == Kinds.RequestToVanish)
            return target.Kind != Kinds.RequestToVanish && target.CreatedAt <= request.CreatedAt && VanishesHere(request, relayUrl);
        if (request.Kind != Kinds.Deletion || target.Kind is Kinds.Deletion or Kinds.RequestToVanish) return false;
        foreach (var id in EventIds(request)) if (id == target.Id) return true;
        var cls = target.Class;
        if (cls is not (KindClass.Replaceable or KindClass.Addressable) || target.CreatedAt > request.CreatedAt) return false;
        var d = cls == KindClass.Addressable ? target.DTag : "";
        foreach (var (kind, dTag) in Addresses(request)) if (kind == target.Kind && dTag == d) return true;
        return false;
    }

    /// NIP-62: a request naming this relay (its URL, any scheme) or every relay (`ALL_RELAYS`).
    public static bool VanishesHere(NostrEvent request, string? relayUrl)
    {
        foreach (var t in request.Tags)
            if (t.Length >= 2 && t[0] == "relay" && (t[1] == "ALL_RELAYS" || RelayUrl.SameRelay(t[1], relayUrl))) return true;
        return false;
    }
}
