using System.Threading.Channels;
using Npgsql;
using NpgsqlTypes;
using Relay.Server.Configuration;
using Relay.Server.Observability;
using Relay.Storage.Model;

namespace Relay.Server.Policies;

/// nostpy's Web of Trust, kept in memory: who may write (and, with WOT_READ, read) is the admin
/// and everyone within WOT_DEPTH follows of the admin, from the stored kind-3 contact lists.
/// A new kind 3 of a pubkey in the graph is applied incrementally as it is stored (by this
/// process or, through the bus, another one); at start-up and every WOT_REFRESH_MINUTES the
/// lists are fetched from WOT_SEED_RELAYS (if any) and the set is rebuilt. One loop owns the graph.
internal sealed class WebOfTrust : IAsyncDisposable
{
    public const string NotTrusted = "blocked: not in this relay's web of trust";

    private readonly RelayOptions _options;
    private readonly NpgsqlDataSource _db;
    private readonly RelayLog _log;
    // Unbounded: only contact lists of pubkeys in the graph (trusted writers) and refresh ticks come
    // here, and dropping one would silently leave the set wrong until the next refresh.
    private readonly Channel<ListChange?> _inbox = Channel.CreateUnbounded<ListChange?>(new UnboundedChannelOptions { SingleReader = true });

    /// A contact list that changed (null: refresh from the seeds and rebuild). Recheck: the author
    /// deleted events by id, perhaps its list; what the database still holds decides.
    private sealed record ListChange(Key32 Author, Key32[] Follows, long CreatedAt, bool Recheck = false);
    private readonly CancellationTokenSource _stop = new();
    private readonly SeedRelays? _seeds;
    private readonly FollowListLoader _load;
    private Task? _loop, _refresh;
    private volatile TrustGraph _graph;

    /// The set in force. A refresh builds a new graph and swaps it in whole, so trusted pubkeys
    /// are never refused while it is being rebuilt.
    public TrustGraph Graph => _graph;

    /// <paramref name="loader"/> replaces the database as the source of contact lists (benchmarks).
    public WebOfTrust(RelayOptions options, NpgsqlDataSource db, RelayLog log, SeedRelays? seeds = null, FollowListLoader? loader = null)
    {
        _options = options;
        _db = db;
        _log = log;
        _seeds = seeds;
        _load = loader ?? LoadAsync;
        _graph = NewGraph();
    }

    private TrustGraph NewGraph() => new(Key32.Parse(_options.AdminPubkey!), _options.WotDepth, _load);

    public bool IsTrusted(Key32 pubkey) => _graph.IsTrusted(pubkey);

    /// Builds the set from what is stored (before the relay listens), then starts the loop and
    /// the refresh timer; seed relays are asked in the background, never holding up start-up.
    public async Task StartAsync(RelayMetrics metrics)
    {
        await Graph.RebuildAsync();
        LogSizes("stored contact lists");
        metrics.AddGauge("relay.wot.trusted_pubkeys", null, "Pubkeys in the web of trust, by follows from the admin (depth 0)",
            () => Graph.CountByDepth().Select((n, d) => new System.Diagnostics.Metrics.Measurement<long>(n, new KeyValuePair<string, object?>("depth", d))));
        _loop = Task.Run(RunAsync);
        _refresh = Task.Run(RefreshLoopAsync);
    }

    /// Stored-event observer: new contact lists of pubkeys in the graph go to the loop, and so do
    /// lists their authors deleted (NIP-09 `a` of kind 3) or vanished with (NIP-62): empty from then.
    public void OnStored(NostrEvent e)
    {
        if (!Graph.IsInner(e.PubkeyKey)) return;
        if (e.Kind == Kinds.Contacts) _inbox.Writer.TryWrite(new ListChange(e.PubkeyKey, ContactList.Follows(e), e.CreatedAt));
        else if ((e.Kind == Kinds.Deletion && DeletionRequests.Addresses(e).Any(a => a.Kind == Kinds.Contacts))
                 || (e.Kind == Kinds.RequestToVanish && DeletionRequests.VanishesHere(e, _options.RelayUrl)))
            _inbox.Writer.TryWrite(new ListChange(e.PubkeyKey, [], e.CreatedAt));
        else if (e.Kind == Kinds.Deletion && DeletionRequests.EventIds(e).Any())
            _inbox.Writer.TryWrite(new ListChange(e.PubkeyKey, [], e.CreatedAt, Recheck: true));
    }

    // NIP-62: a request to vanish from this relay is followed whatever the author's status.
    public WritePolicy WritePolicy => (e, _, _) =>
        IsTrusted(e.PubkeyKey) || (e.Kind == Kinds.RequestToVanish && DeletionRequests.VanishesHere(e, _options.RelayUrl)) ? null : NotTrusted;

    public FilterPolicy ReadPolicy => (_, session) =>
    {
        if (!session.IsAuthenticated) return "auth-required: this relay serves its web of trust; authenticate to read";
        foreach (var k in session.Authenticated) if (IsTrusted(k)) return null;
        return "restricted: not in this relay's web of trust";
    };

    private async Task RunAsync()
    {
        try
        {
            await foreach (var e in _inbox.Reader.ReadAllAsync(_stop.Token))
            {
                try
                {
                    if (e is null) { await RefreshAsync(); continue; }
                    if (e.Recheck && (await _load([e.Author])).ContainsKey(e.Author)) continue;   // its list is still stored
                    await Graph.UpdateAsync(e.Author, e.Follows, e.CreatedAt);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !_stop.IsCancellationRequested)
                {
                    _log.WotUpdateFailed(ex.Message);   // database away or our bug: the next refresh rebuilds from scratch
                }
            }
        }
        catch (OperationCanceledException) { }
    }

    private async Task RefreshLoopAsync()
    {
        try
        {
            if (_seeds is not null) _inbox.Writer.TryWrite(null);
            using var timer = new PeriodicTimer(_options.WotRefresh);
            while (await timer.WaitForNextTickAsync(_stop.Token)) _inbox.Writer.TryWrite(null);
        }
        catch (OperationCanceledException) { }
    }

    /// Seeds first (level by level: the lists of depth d name who is at depth d + 1), then a
    /// rebuild from everything stored.
    private async Task RefreshAsync()
    {
        if (_seeds is not null)
            for (var d = 0; d < Graph.MaxDepth; d++)
            {
                var stored = await _seeds.FetchAndStoreAsync(Graph.AtDepth(d).ToList(), _stop.Token);
                foreach (var e in stored) await Graph.UpdateAsync(e.PubkeyKey, ContactList.Follows(e), e.CreatedAt);
            }
        var fresh = NewGraph();
        await fresh.RebuildAsync();
        _graph = fresh;
        LogSizes(_seeds is null ? "refresh" : "seed relays and refresh");
    }

    private void LogSizes(string source) =>
        _log.WotSize(Graph.Count, string.Join(", ", Graph.CountByDepth().Select((n, d) => $"depth {d}: {n}")), source);

    private async Task<Dictionary<Key32, (Key32[] Follows, long CreatedAt)>> LoadAsync(IReadOnlyCollection<Key32> pubkeys)
    {
        var found = new Dictionary<Key32, (Key32[], long)>();
        foreach (var chunk in pubkeys.Chunk(5000))
        {
            await using var cmd = _db.CreateCommand("SELECT raw FROM events WHERE kind = 3 AND pubkey = ANY($1)");
            cmd.Parameters.Add(new NpgsqlParameter<byte[][]> { TypedValue = chunk.Select(k => k.ToBytes()).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea });
            await using var reader = await cmd.ExecuteReaderAsync(_stop.Token);
            while (await reader.ReadAsync(_stop.Token))
            {
                if (EventParser.TryParse(reader.GetFieldValue<byte[]>(0), out _) is not { } e) continue;
                var author = e.PubkeyKey;
                if (!found.TryGetValue(author, out var held) || e.CreatedAt > held.Item2) found[author] = (ContactList.Follows(e), e.CreatedAt);
            }
        }
        return found;
    }

    private int _disposed;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _stop.Cancel();
        _inbox.Writer.TryComplete();
        try { if (_loop is not null) await _loop; if (_refresh is not null) await _refresh; }
        catch (OperationCanceledException) { }
        _stop.Dispose();
    }
}

/// The pubkeys a NIP-02 contact list (kind 3) follows: its `p` tags, once each.
internal static class ContactList
{
    public static Key32[] Follows(NostrEvent e)
    {
        var set = new HashSet<Key32>();
        foreach (var t in e.Tags)
            if (t.Length >= 2 && t[0] == "p" && Key32.TryParse(t[1], out var k)) set.Add(k);
        return [.. set];
    }
}
