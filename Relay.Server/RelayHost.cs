using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Npgsql;
using Relay.Server.Configuration;
using Relay.Server.Fanout;
using Relay.Server.HotTier;
using Relay.Server.Http;
using Relay.Server.Ingest;
using Relay.Server.Observability;
using Relay.Server.Policies;
using Relay.Server.Protocol;
using Relay.Server.Req;
using Relay.Server.Store;
using Relay.Server.Subscriptions;
using Relay.Server.Transport;
using Relay.Server.Verify;
using Relay.Storage.Model;
using Relay.Storage.Postgres;

namespace Relay.Server;

/// Wires the stages in flow order (listener → ingest → verify → write → bus → subscriptions)
/// and stops them in reverse, flushing the write queue before the database goes away.
internal sealed class RelayHost : IAsyncDisposable
{
    public static string Version => typeof(RelayHost).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    private readonly RelayOptions _options;
    private readonly RelayLog _log;
    private readonly NpgsqlDataSource _db;
    private readonly ReadDatabases _reads;
    private readonly ConnectionRegistry _connections;
    private readonly Listener _listener;
    private readonly VerifyQueues _verifyQueues;
    private readonly WriteQueues _writeQueues;
    private readonly SignatureVerifier _verifier;
    private readonly WriteBatcher[] _batchers;
    private readonly LocalEventBus _bus;
    private readonly IEventBus _publisher;
    private readonly RedisEventBus? _redis;
    private readonly RelayPolicies _policies;
    private readonly WebOfTrust? _wot;
    private readonly ExpiredEventPurger _purger;
    private readonly HotTierKeeper? _tier;
    private OtlpExport? _otlp;
    private Timer? _importNotice;   // `relay import`: tells running relays it writes (their hot tiers)
    private int _stopped;

    public RelayMetrics Metrics { get; }
    public SubscriptionIndex Subscriptions { get; }
    public int Port => _listener.Port;
    public NpgsqlDataSource Database => _db;
    public WebOfTrust? WebOfTrust => _wot;
    public EventIngester Ingester { get; }
    public ExpiredEventPurger Purger => _purger;
    public HotTierKeeper? HotTier => _tier;

    private RelayHost(RelayOptions options, RelayLog log, NpgsqlDataSource db, List<(NpgsqlDataSource, string)> replicas,
        RelayMetrics metrics, SubscriptionIndex index,
        LocalEventBus bus, RedisEventBus? redis, RecentIds recent, RelayPolicies policies, WebOfTrust? wot, HotTierKeeper? tier)
    {
        _tier = tier;
        _policies = policies;
        _wot = wot;
        _options = options;
        _log = log;
        _db = db;
        Metrics = metrics;
        Subscriptions = index;
        _bus = bus;
        _redis = redis;
        _publisher = (IEventBus?)redis ?? bus;
        _connections = new ConnectionRegistry(options.HandshakeTimeout, options.IdleTimeout, options.PingInterval);
        _verifyQueues = new VerifyQueues(options.VerifyWorkers, Math.Max(1024, 16_384 / options.VerifyWorkers));
        _writeQueues = new WriteQueues(options.WriteConnections, Math.Max(4 * options.WriteBatchSize, 1024));
        var latest = new LatestCommit();
        var ingester = Ingester = new EventIngester(policies.Write, _verifyQueues, recent, Metrics, latest);
        _verifier = new SignatureVerifier(_verifyQueues, _writeQueues, _publisher, ingester, policies.WriteVerified, _log, Metrics, StoredIdsAsync);
        _purger = new ExpiredEventPurger(db, _log, TimeSpan.FromMinutes(1));
        // Several writer loops, each with its own connection, let PostgreSQL use more than one core
        // and overlap one batch's commit with the next batch's inserts.
        var writes = new DatabaseHealth(_log, Metrics, "writes");
        _batchers = new WriteBatcher[options.WriteConnections];
        for (var i = 0; i < _batchers.Length; i++)
            _batchers[i] = new WriteBatcher(_writeQueues.Reader(i), new EventWriter(db, options.RelayUrl), _publisher, ingester, recent, _log, Metrics, writes, options.WriteBatchSize, options.WriteBatchDelay, options.RelayUrl, latest, tier);
        Metrics.AddGauge("relay.connections", "Open connections", () => _connections.Count);
        Metrics.AddGauge("relay.subscriptions", "Open subscriptions (REQs awaiting live events)", () => Subscriptions.Count);
        Metrics.AddGauge("relay.verify.queue", "Events waiting for signature verification", () => _verifyQueues.Depth);
        Metrics.AddGauge("relay.write.queue", "Verified events waiting to be written", () => _writeQueues.Depth);
        _reads = new ReadDatabases(db, replicas, Metrics, _log);
        var reqs = new ReqHandler(_reads, Subscriptions, policies, options, Metrics, new DatabaseHealth(_log, Metrics, "queries"), tier);
        _listener = new Listener(new ConnectionContext
        {
            Options = options,
            Log = _log,
            Metrics = Metrics,
            Connections = _connections,
            Subscriptions = Subscriptions,
            Parser = new ClientMessageParser(options.MaxSubIdLength, options.MaxFilters),
            Handler = new MessageHandler(ingester, reqs, new Authentication(options.RelayUrl), policies.Rates, Metrics),
            Policies = policies,
            RelayInfo = RelayInfoDocument.Build(options, Version),
        });
    }

    /// Ids of a verify batch already in the database. If the database is unreachable the batch
    /// is verified anyway; the writer then reports the true outcome (or the failure). The hot
    /// tier answers for the events it can (held, or recent and not held: nearly all new events),
    /// so PostgreSQL is asked only about the others, usually none, and only when
    /// <paramref name="askDatabase"/> (a batch large enough to be worth a round trip).
    private async ValueTask<HashSet<string>> StoredIdsAsync(IReadOnlyList<IngestJob> jobs, bool askDatabase)
    {
        HashSet<string>? found = null;
        if (_tier is { Enabled: true } tier)
        {
            List<IngestJob>? ask = null;
            foreach (var job in jobs)
            {
                var at = tier.StoredAt(job.Event);
                if (at > 0)
                {
                    (found ??= []).Add(job.Event.Id);
                    job.Source.Session.Wrote(at.Value);   // read your own writes, as below
                }
                else if (at is null or 0) (ask ??= []).Add(job);
            }
            if (ask is null) return found ?? NoneStored;
            jobs = ask;
        }
        if (!askDatabase) return found ?? NoneStored;
        try
        {
            var (stored, position) = await EventQuery.FindStoredAsync(_db, jobs.Select(j => j.Event.Id));
            // Answered "duplicate" (OK true) from here: the sender's next REQ must see the stored copy,
            // which another process may have committed a moment ago (read your own writes).
            foreach (var job in jobs)
                if (stored.Contains(job.Event.Id)) job.Source.Session.Wrote(position);
            if (found is null) return stored;
            found.UnionWith(stored);
            return found;
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            return found ?? NoneStored;
        }
    }

    private static readonly HashSet<string> NoneStored = [];

    /// A data source with the settings every relay connection uses (the primary's and the replicas').
    private static (NpgsqlDataSource Db, NpgsqlConnectionStringBuilder Settings) OpenDatabase(string url, int poolSize, int? connectTimeoutSeconds = null)
    {
        var csb = DatabaseUrl.Parse(url);
        csb.MaxPoolSize = poolSize;
        if (connectTimeoutSeconds is { } timeout) csb.Timeout = timeout;
        // REQ queries are small and many: parallel workers and JIT cost more to start than they save.
        // Prepared statements skip parsing, but a generic plan would ignore how skewed authors and
        // tags are (one pubkey with 6,000 events, most with ten): plan each execution for its values
        // (generic plans measured slower on every query shape of the load test, tags and ids included).
        // Memoize caches each event a tag query joins to, but a REQ rarely joins the same event twice:
        // off, the tag and ids queries ran ~7% faster (pg_stat_statements, alternated runs).
        csb.Options ??= "-c max_parallel_workers_per_gather=0 -c jit=off -c plan_cache_mode=force_custom_plan -c enable_memoize=off";
        // The relay sets no session state, so the DISCARD ALL on every return to the pool only
        // throws away prepared statements; keep them, and let Npgsql prepare the query shapes REQs reuse.
        csb.NoResetOnClose = true;
        if (csb.MaxAutoPrepare == 0) csb.MaxAutoPrepare = 200;
        var builder = new NpgsqlSlimDataSourceBuilder(csb.ConnectionString);
        builder.EnableArrays();
        return (builder.Build(), csb);
    }

    /// Checks libsecp256k1, migrates the database, starts every stage and listens (`relay import`
    /// runs the same stages without listening: <paramref name="listen"/> false).
    public static async Task<RelayHost> StartAsync(RelayOptions options, ILoggerFactory loggers, CancellationToken ct = default, bool listen = true)
    {
        if (SignatureVerifier.CheckLibrary() is { } problem) throw new InvalidOperationException(problem);

        var (db, csb) = OpenDatabase(options.DatabaseUrl, options.DatabasePoolSize);
        var replicas = new List<(NpgsqlDataSource, string)>();
        WebOfTrust? wot = null;
        RelayPolicies? policies = null;
        HotTierKeeper? tier = null;
        SeedRelays? seeds = null;
        IEventBus? publisher = null;
        try
        {
            foreach (var url in options.DatabaseReadUrls)
            {
                // A replica that drops packets must cost a REQ little: 3 s to connect, unless the URL says otherwise.
                var (replica, settings) = OpenDatabase(url, options.DatabasePoolSize,
                    connectTimeoutSeconds: url.Contains("timeout", StringComparison.OrdinalIgnoreCase) ? null : 3);
                replicas.Add((replica, DatabaseUrl.Describe(settings)));
            }
            var log = new RelayLog(loggers.CreateLogger("relay"));
            var applied = await Migrator.ApplyAsync(db, log.Migrating, ct);
            if (applied > 0) log.Migrated(applied);
            var metrics = new RelayMetrics();
            // With replicas, the last events dispatched are kept for the REQs a lagging replica
            // answers (SubscriptionIndex.TryCatchUp): 8,192 covers ~1 s of lag at 8,000 events/s;
            // a replica further behind than that leaves the REQ to the primary.
            var index = new SubscriptionIndex(options.DatabaseReadUrls.Length > 0 ? 8192 : 0);
            var recent = new RecentIds(100_000);
            var deletions = new DeletionRecords(recent, options.RelayUrl);
            await deletions.LoadAsync(db, ct);
            if (options.WotEnabled)
            {
                seeds = options.WotSeedRelays.Length > 0 ? new SeedRelays(options.WotSeedRelays, db, options.RelayUrl, log) : null;
                // Contact lists stored from the seeds go on the bus (hot tiers, live subscribers,
                // other processes) once there is one; the first refresh may store some before.
                if (seeds is not null) seeds.Stored = e => publisher?.Publish(e);
                wot = new WebOfTrust(options, db, log, seeds);
                await wot.StartAsync(metrics);
            }
            policies = RelayPolicies.Build(options, wot, deletions);
            // The hot tier answers REQs only when listening (`relay import` has no REQs to answer).
            RedisEventBus? redis = null;
            var tierBytes = options.HotTierBytes ?? options.HotTierMb * 1024L * 1024;
            tier = listen && tierBytes > 0
                ? new HotTierKeeper(tierBytes, options.RelayUrl, db, log, metrics, () => redis?.IsUp ?? true,
                    ct => redis is null ? Task.FromResult(true) : redis.ProveSubscribedAsync(ct))
                : null;
            var observers = new List<Action<NostrEvent>> { deletions.OnStored };
            if (wot is not null) observers.Add(wot.OnStored);
            if (tier is not null) observers.Add(tier.Take);   // other processes' events (the writer gives it this one's)
            var bus = new LocalEventBus(index, metrics, [.. observers], log);
            if (options.RedisUrl is { } redisUrl)
            {
                redis = await RedisEventBus.ConnectAsync(redisUrl, options.RedisChannel, bus, log, metrics);
                log.RedisJoined(options.RedisChannel);
                if (tier is not null)
                {
                    redis.OutageStarted += tier.BusLost;
                    redis.OutageEnded += tier.BusRestored;
                }
                // What this process published while its own link was down never reached the others,
                // and what a process that crashed committed but never published either: when the
                // link is back, and when a process starts, every hot tier on the database reloads.
                redis.OutageEnded += () => _ = HotTierKeeper.SayExternalWritesAsync(db, done: true);
                _ = HotTierKeeper.SayExternalWritesAsync(db, done: true);
            }
            var host = new RelayHost(options, log, db, replicas, metrics, index, bus, redis, recent, policies, wot, tier);
            publisher = host._publisher;
            host._otlp = OtlpExport.Start(options.Telemetry);
            host._bus.Start();
            host._tier?.Start();
            host._purger.Start();
            foreach (var b in host._batchers) b.Start();
            host._verifier.Start();
            if (!listen)
            {
                // Every 5 s from the start, whether or not it stored anything lately (a relay reloads
                // 15 s after the last word).
                host._importNotice = new Timer(_ => _ = HotTierKeeper.SayExternalWritesAsync(db, done: false), null, 0, 5000);
                return host;
            }
            try
            {
                host._listener.Start(options.Host, options.Port);
            }
            catch
            {
                await host.StopAsync();   // e.g. the port is taken: leave no loops running
                throw;
            }
            host._log.Listening(options.Host, host.Port, DatabaseUrl.Describe(csb)
                + (replicas.Count > 0 ? ", read replicas " + string.Join(", ", replicas.Select(r => r.Item2)) : ""));
            return host;
        }
        catch
        {
            // Nothing started may outlive a failed start (Redis or the port refused, say).
            if (wot is not null) await wot.DisposeAsync();
            if (tier is not null) await tier.DisposeAsync();
            policies?.Dispose();
            await db.DisposeAsync();
            foreach (var (replica, _) in replicas) await replica.DisposeAsync();
            throw;
        }
    }

    /// Graceful stop: no new connections, close the open ones with 1001, answer what is queued.
    /// Never throws: each step runs whatever state the one before (or a dependency) left.
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0) return;
        await QuietlyAsync(_listener.StopAsync);
        if (_tier is not null) await QuietlyAsync(async () => await _tier.DisposeAsync());
        _log.ShuttingDown(_connections.Count);
        _verifyQueues.Complete();
        await QuietlyAsync(_verifier.StopAsync);
        _writeQueues.Complete();
        foreach (var b in _batchers) await QuietlyAsync(b.StopAsync);
        if (_importNotice is not null)
        {
            await _importNotice.DisposeAsync();
            await HotTierKeeper.SayExternalWritesAsync(_db, done: true);
        }
        if (_redis is not null) await QuietlyAsync(async () => await _redis.DisposeAsync());
        await QuietlyAsync(_bus.StopAsync);
        if (_wot is not null) await QuietlyAsync(async () => await _wot.DisposeAsync());
        await QuietlyAsync(async () => await _purger.DisposeAsync());
        _policies.Dispose();
        foreach (var c in _connections.All) c.Close(WebSockets.CloseCodes.GoingAway, "relay shutting down");
        var deadline = Environment.TickCount64 + 3000;
        while (_connections.Count > 0 && Environment.TickCount64 < deadline) await Task.Delay(20);
        _connections.Dispose();
        await QuietlyAsync(async () => await _db.DisposeAsync());
        await QuietlyAsync(async () => await _reads.DisposeAsync());
        await QuietlyAsync(() => { _otlp?.Dispose(); return Task.CompletedTask; });
        Metrics.Dispose();
    }

    private async Task QuietlyAsync(Func<Task> step)
    {
        try { await step(); }
        catch (Exception e) { _log.StopStepFailed(e.Message); }
    }

    public async ValueTask DisposeAsync() => await StopAsync();
}
