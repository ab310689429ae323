using System.Net;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Relay.Server.Configuration;
using Relay.Server.Observability;
using Relay.Server.Policies;
using Relay.Storage.Model;

namespace Relay.Bench.Policies;

/// The per-message policy work: the whole write list as a relay with every policy on runs it
/// for each EVENT (limits, rate limits, vanished authors, WoT, NIP-70, PoW, and the per-author
/// limit the verifiers run), and the private-kind check each live
/// delivery and each stored result pays. All should be 0 B.
[MemoryDiagnoser]
public class WritePoliciesBench
{
    private WritePolicy[] _all = [];
    private WritePolicy[] _defaults = [];
    private RelayPolicies? _policies;
    private readonly ConnectionSession _session = new(IPAddress.Parse("203.0.113.9"));
    private NostrEvent _dm = null!;
    private long _now;

    [GlobalSetup]
    public void Setup()
    {
        _now = Samples.Kind1.CreatedAt + 10;
        var admin = Samples.Hex(7, 32);
        var options = new RelayOptions
        {
            DatabaseUrl = "Host=127.0.0.1;Database=unused",
            AdminPubkey = admin,
            WotEnabled = true,
            EventsPerSecondPerIp = 1e9,     // on, and never refusing: the bucket is still taken each time
            EventsPerSecondPerPubkey = 1e9,
            MaxPastSeconds = 86_400 * 365 * 30,
            MinPowDifficulty = 0,
        };
        // The admin follows the sample's author: it is at depth 1 of the web of trust.
        var follows = new Dictionary<Key32, (Key32[], long)> { [Key32.Parse(admin)] = ([Key32.Parse(Samples.Kind1Pubkey)], 1) };
        var wot = new WebOfTrust(options, new NpgsqlSlimDataSourceBuilder(options.DatabaseUrl).Build(), new RelayLog(NullLogger.Instance),
            loader: keys => Task.FromResult(keys.Where(follows.ContainsKey).ToDictionary(k => k, k => follows[k])));
        wot.Graph.RebuildAsync().GetAwaiter().GetResult();
        // Someone else vanished, so the vanished-author check looks the author up, as it would in production.
        var deletions = new DeletionRecords(new Relay.Server.Ingest.RecentIds(16), null);
        deletions.OnStored(EventSigner.FromSeed("gone").SignEvent(62, "", [["relay", "ALL_RELAYS"]], 1));
        _policies = RelayPolicies.Build(options, wot, deletions);
        _all = [.. _policies.Write, .. _policies.WriteVerified, ProofOfWork.Minimum(0)];
        _defaults = RelayPolicies.Build(new RelayOptions { DatabaseUrl = options.DatabaseUrl }, null, deletions).Write;
        if (Run(_all) is { } refused) throw new InvalidOperationException("the sample is refused: " + refused);
        _dm = EventSigner.FromSeed("dm").SignEvent(4, "ciphertext", [["p", Samples.MentionPubkey]], Samples.Kind1.CreatedAt);
    }

    private string? Run(WritePolicy[] list)
    {
        foreach (var p in list) if (p(Samples.Kind1, _session, _now) is { } r) return r;
        return null;
    }

    [Benchmark(Baseline = true)]
    public string? DefaultWritePolicies() => Run(_defaults);

    [Benchmark]
    public string? AllWritePolicies_WoT_RateLimits_PoW() => Run(_all);

    [Benchmark]
    public bool PrivateKinds_LiveDelivery_PublicEvent() => _policies!.Private.MaySee(Samples.Kind1, _session);

    [Benchmark]
    public bool PrivateKinds_StoredResult_PublicEvent() => _policies!.Private.MaySee(Samples.Kind1.Raw, StoredJson.Kind(Samples.Kind1.Raw), _session);

    [Benchmark]
    public bool PrivateKinds_LiveDelivery_DirectMessage_Unauthenticated() => _policies!.Private.MaySee(_dm, _session);
}
