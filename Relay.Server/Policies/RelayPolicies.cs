using Relay.Server.Configuration;
using Relay.Storage.Model;

namespace Relay.Server.Policies;

/// The ordered policy lists (as khatru's RejectEvent / RejectFilter / RejectConnection), built
/// once from the options: cheapest first, and every write rule before the signature check.
///   write:      limits → rate limit per address → vanished authors → web of trust → NIP-70 / AUTH → PoW
///   verified:   (after the signature check) rate limit per author
///   filters:    filter limits → rate limits → AUTH → WoT reads → private kinds
///   connection: connections per address
/// Private kinds are also checked per event, on stored results and live delivery.
internal sealed class RelayPolicies : IDisposable
{
    public required WritePolicy[] Write { get; init; }
    /// Rules that need the author proven: run by the verifiers after the signature check.
    public required WritePolicy[] WriteVerified { get; init; }
    public required FilterPolicy[] Filters { get; init; }
    public required ConnectionPolicy[] Connection { get; init; }
    public required PrivateKinds Private { get; init; }
    public required ConnectionsPerAddress PerAddress { get; init; }
    public required RateLimits Rates { get; init; }

    public static RelayPolicies Build(RelayOptions o, WebOfTrust? wot, DeletionRecords? deletions)
    {
        Key32? admin = o.AdminPubkey is { } a ? Key32.Parse(a) : null;
        var rates = new RateLimits(o, k => k == admin || (o.RateLimitExemptWot && wot is not null && wot.IsTrusted(k)),
            wot is null ? null : k => wot.Graph.IsInner(k));   // only inner pubkeys' lists shape the graph
        var perAddress = new ConnectionsPerAddress(o.MaxConnectionsPerIp);
        var privateKinds = new PrivateKinds(o.PrivateKinds);

        var write = new List<WritePolicy>(EventLimits.From(o));
        if (o.EventsPerSecondPerIp > 0) write.Add(rates.EventsByAddress);
        if (deletions is not null) write.Add(deletions.Policy);
        if (wot is not null) write.Add(wot.WritePolicy);
        write.Add(Protection.ProtectedEvents);
        if (o.AuthRequiredForWrite) write.Add(Protection.AuthRequiredForWrite(o.RelayUrl));
        if (o.MinPowDifficulty > 0) write.Add(ProofOfWork.Minimum(o.MinPowDifficulty));

        var verified = new List<WritePolicy>();
        if (o.EventsPerSecondPerPubkey > 0) verified.Add(rates.EventsByAuthor);

        var filters = new List<FilterPolicy> { FilterLimits.Values(o.MaxIdsPerFilter, o.MaxAuthorsPerFilter) };
        if (rates.Any) filters.Add(rates.Reqs);
        if (o.AuthRequiredForRead) filters.Add(Protection.AuthRequiredForRead);
        if (wot is not null && o.WotRead) filters.Add(wot.ReadPolicy);
        if (privateKinds.Any) filters.Add(privateKinds.Policy);

        return new RelayPolicies
        {
            Write = [.. write],
            WriteVerified = [.. verified],
            Filters = [.. filters],
            Connection = o.MaxConnectionsPerIp > 0 ? [perAddress.Policy] : [],
            Private = privateKinds,
            PerAddress = perAddress,
            Rates = rates,
        };
    }

    /// The first filter rule that refuses, as the CLOSED message; null to go on.
    public string? CheckFilters(NostrFilter[] filters, ConnectionSession session)
    {
        foreach (var p in Filters) if (p(filters, session) is { } closed) return closed;
        return null;
    }

    public void Dispose() => Rates.Dispose();
}
