using System.Diagnostics.Metrics;
using Npgsql;
using Relay.Server.Observability;
using Relay.Storage.Model;

namespace Relay.Server.HotTier;

/// Keeps the process's <see cref="RecentEvents"/> and says when it may answer. It answers only
/// while it provably has every stored event at or after its horizon:
/// - at start-up it loads from PostgreSQL in the background (REQs go to PostgreSQL meanwhile);
/// - every stored event is taken before any subscription is offered it: this process's by the
///   writer after the commit and before the OK (so a client reads its own writes), other
///   processes' by the bus loop before it dispatches them;
/// - while the bus (Redis) is down it cannot know what other processes store: it is dropped and
///   reloaded once the bus is back (the load catches up on what was missed).
/// A load takes the events that arrive while it runs aside, and replays them on the loaded tier
/// before it answers, so nothing stored meanwhile is missing. Thread-safe: queries share a read
/// lock, feeding takes the write lock (a few microseconds per event).
internal sealed class HotTierKeeper : IAsyncDisposable
{
    private readonly long _budget;
    private readonly string? _relayUrl;
    private readonly NpgsqlDataSource _db;
    private readonly RelayLog _log;
    private readonly Func<bool> _busUp;
    private readonly Func<CancellationToken, Task<bool>> _busProven;
    private readonly ReaderWriterLockSlim _lock = new(LockRecursionPolicy.NoRecursion);
    private readonly SemaphoreSlim _wake = new(0);
    private readonly CancellationTokenSource _stop = new();
    private RecentEvents? _tier;                 // null: not ready (loading, or the bus is down)
    private List<NostrEvent>? _arrivedDuringLoad;
    private long _seq;                           // the last TierSeq given
    private long _readyAt;                       // _seq when the loaded tier took over (its loaded events' fence)
    private volatile bool _listening;            // LISTEN for `relay import` is in place (a notice cannot be missed)
    private int _epoch;                          // moves when the bus goes down or comes back
    private bool _busDown;
    private Task? _loader, _listener;
    private long _externalUntil;                 // Environment.TickCount64 until which an import may be writing

    /// Where writers that do not go through a relay's bus (`relay import`) say they wrote: a relay
    /// drops its tier while an import writes (payload "busy", every few seconds) and reloads when
    /// it is done ("done"), or 15 s after the last word from a import that died.
    public const string ExternalWritesChannel = "relay_external_writes";

    // Filters answered from memory and by PostgreSQL, by the index the tier would use.
    private readonly long[] _hits = new long[Shapes.Length], _misses = new long[Shapes.Length];
    private static readonly string[] Shapes = ["ids", "authors", "tag", "kinds", "other"];

    /// <paramref name="busUp"/>: whether events from other processes reach this one (always true
    /// without Redis).
    /// <paramref name="busProven"/>: a message sent on the bus now comes back (the subscription is
    /// really in place), checked before each load.
    public HotTierKeeper(long budgetBytes, string? relayUrl, NpgsqlDataSource db, RelayLog log, RelayMetrics metrics, Func<bool> busUp,
        Func<CancellationToken, Task<bool>>? busProven = null)
    {
        _busProven = busProven ?? (_ => Task.FromResult(true));
        _budget = budgetBytes;
        _relayUrl = relayUrl;
        _db = db;
        _log = log;
        _busUp = busUp;
        metrics.AddGauge("relay.hot_tier.events", "Events held by the hot tier", () => Read(t => t.Count));
        metrics.AddGauge("relay.hot_tier.bytes", "Bytes the hot tier accounts for (raw JSON and indexes)", () => Read(t => t.Bytes), "By");
        metrics.AddGauge("relay.hot_tier.horizon", "created_at from which the hot tier holds every stored event (0: all of them)",
            () => Read(t => t.Horizon == long.MinValue ? 0 : t.Horizon));
        metrics.AddGauge("relay.hot_tier.ready", "1 while the hot tier answers REQ filters, else 0 (loading, off, or the bus is down)",
            () => Read(_ => 1));
        metrics.Meter.CreateObservableCounter("relay.hot_tier.filters", () => Counts(), null,
            "REQ filters by shape (the index used) and by what answered them (memory or the database)");
    }

    public bool Enabled => _budget > 0;

    /// Whether it answers REQ filters now (loaded, the bus up).
    public bool IsReady => Read(_ => 1) == 1;

    /// How many stored events it has taken (each once, from the writer or the bus).
    public long Taken
    {
        get
        {
            _lock.EnterReadLock();
            try { return _seq; }
            finally { _lock.ExitReadLock(); }
        }
    }

    private long Read(Func<RecentEvents, long> read)
    {
        _lock.EnterReadLock();
        try { return _tier is { } t ? read(t) : 0; }
        finally { _lock.ExitReadLock(); }
    }

    private IEnumerable<Measurement<long>> Counts()
    {
        for (var i = 0; i < Shapes.Length; i++)
        {
            yield return new(Interlocked.Read(ref _hits[i]), new("shape", Shapes[i]), new("answered", "memory"));
            yield return new(Interlocked.Read(ref _misses[i]), new("shape", Shapes[i]), new("answered", "database"));
        }
    }

    /// Starts the background load (nothing when the tier is off).
    public void Start()
    {
        if (!Enabled) return;
        _loader = Task.Run(LoadLoopAsync);
        _listener = Task.Run(ListenLoopAsync);
        _wake.Release();
    }

    /// A stored event (committed): the writer's, or another process's from the bus. Each is taken
    /// once, whoever offers it first; numbered for the live fence even while the tier loads.
    public void Take(NostrEvent e)
    {
        if (!Enabled || e.TierSeq != 0 || e.Class == KindClass.Ephemeral) return;   // off, taken, or never stored
        _lock.EnterWriteLock();
        try { TakeLocked(e); }
        finally { _lock.ExitWriteLock(); }
    }

    /// A write batch's stored events, in one go.
    public void Take(List<NostrEvent> stored)
    {
        if (!Enabled || stored.Count == 0) return;
        _lock.EnterWriteLock();
        try
        {
            foreach (var e in stored) TakeLocked(e);
        }
        finally { _lock.ExitWriteLock(); }
    }

    private void TakeLocked(NostrEvent e)
    {
        if (e.TierSeq != 0 || e.Class == KindClass.Ephemeral) return;
        if (_tier?.TierSeqOf(e.IdKey) is { } heldSeq)
        {
            // Another copy of an event held (a bus message sent again after a reconnect, one the
            // load already read): any REQ that returned the held one must not get it live again.
            e.TierSeq = heldSeq != 0 ? heldSeq : _readyAt;
            return;
        }
        e.TierSeq = ++_seq;
        _arrivedDuringLoad?.Add(e);
        try { _tier?.Add(e); }
        catch (Exception ex)
        {
            // Our bug: the tier may now differ from the database. PostgreSQL answers until a reload.
            _tier = null;
            _epoch++;
            _log.HotTierLoadFailed("taking an event failed: " + ex.Message, 0);
            _wake.Release();
        }
    }

    /// Events the writer found already stored (duplicates): normally held already; one that is
    /// not (a commit that succeeded although the writer saw it fail, then retried) is taken now.
    public void TakeStoredBefore(List<NostrEvent> duplicates)
    {
        if (!Enabled || duplicates.Count == 0) return;
        _lock.EnterWriteLock();
        try
        {
            foreach (var e in duplicates)
                if (e.Class != KindClass.Ephemeral && _tier?.Holds(e.IdKey) == false && e.CreatedAt >= (_tier?.Horizon ?? long.MaxValue))
                {
                    e.TierSeq = ++_seq;
                    _tier!.Replay(e);
                }
        }
        finally { _lock.ExitWriteLock(); }
    }

    /// The verifier's look-up of an event already stored, from memory (RecentEvents.StoredAt:
    /// the commit position that stored it, -1 if provably not stored, 0 if memory cannot say);
    /// null while the tier is not ready. An event another process stored that the bus has not
    /// brought yet reads as not stored: it is verified, and the writer answers it "duplicate:".
    public long? StoredAt(NostrEvent e)
    {
        _lock.EnterReadLock();
        try { return _tier?.StoredAt(e); }
        finally { _lock.ExitReadLock(); }
    }

    /// What a REQ's filters get from memory. <paramref name="answers"/>[i] says what filter i got;
    /// the events of the answered filters are in <paramref name="into"/> (each filter's in NIP-01
    /// order, one after the other). False (nothing answered) while the tier is not ready.
    /// <paramref name="missingEnds"/>[i]: where filter i's ids not held end in <paramref name="missing"/>.
    /// <paramref name="position"/>: the last TierSeq taken, the live fence for what it answered.
    public bool TryQuery(NostrFilter[] filters, int maxLimit, long now, RecentEvents.Answer[] answers,
        List<HeldEvent> into, List<string> missing, int[] missingEnds, out long position)
    {
        position = 0;
        if (!Enabled) return false;
        _lock.EnterReadLock();
        try
        {
            if (_tier is not { } tier) return false;
            position = _seq;
            for (var i = 0; i < filters.Length; i++)
            {
                var answer = answers[i] = tier.Query(filters[i], maxLimit, now, into, missing);
                missingEnds[i] = missing.Count;
                Interlocked.Increment(ref (answer == RecentEvents.Answer.None ? _misses : _hits)[Shape(filters[i])]);
            }
            return true;
        }
        finally { _lock.ExitReadLock(); }
    }

    private static int Shape(NostrFilter f) =>
        f.Ids is not null ? 0 : f.Authors is not null ? 1 : f.Tags.Length > 0 ? 2 : f.Kinds is not null ? 3 : 4;

    /// Events from other processes stop arriving: drop the tier (queries go to PostgreSQL).
    public void BusLost()
    {
        if (!Enabled) return;
        SetBus(down: true);
        _log.HotTierDropped();
    }

    /// The bus is back: load again, which catches up on what other processes stored meanwhile.
    public void BusRestored()
    {
        if (!Enabled) return;
        SetBus(down: false);
        _wake.Release();
    }

    private async Task ListenLoopAsync()
    {
        var ct = _stop.Token;
        var first = true;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await using var conn = await _db.OpenConnectionAsync(ct);
                conn.Notification += (_, n) => ExternalWrites(done: n.Payload == "done");
                await using (var cmd = new NpgsqlCommand("LISTEN " + ExternalWritesChannel, conn)) await cmd.ExecuteNonQueryAsync(ct);
                _listening = true;
                // Words sent while not listening are lost: after a lost connection, reload anyway.
                if (!first) ExternalWrites(done: true);
                else _wake.Release();
                first = false;
                while (!ct.IsCancellationRequested)
                {
                    // A connection that died quietly would lose notices for good: ask every 30 s.
                    if (!await conn.WaitAsync(TimeSpan.FromSeconds(30), ct))
                        await using (var ping = new NpgsqlCommand("SELECT 1", conn)) await ping.ExecuteScalarAsync(ct);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
            catch (Exception)
            {
                // Not listening: an import could write unseen, so the tier steps aside until back.
                if (_listening || first) { _listening = false; ExternalWrites(done: false); }
                first = false;
                try { await Task.Delay(TimeSpan.FromSeconds(5), ct); } catch (OperationCanceledException) { }
            }
        }
    }

    /// Another program wrote to the database: what the tier holds may be incomplete.
    private void ExternalWrites(bool done)
    {
        _lock.EnterWriteLock();
        try
        {
            _epoch++;
            _tier = null;
            _arrivedDuringLoad = null;
            Volatile.Write(ref _externalUntil, done ? 0 : Environment.TickCount64 + 15_000);
        }
        finally { _lock.ExitWriteLock(); }
        if (done) _wake.Release();
        else _ = Task.Delay(TimeSpan.FromSeconds(16), _stop.Token).ContinueWith(_ => _wake.Release(), TaskScheduler.Default);
    }

    /// Tells the relays on this database that a program other than them writes (busy) or wrote
    /// (done) events: `relay import`. Never throws (a relay that misses it reloads within 15 s).
    public static async Task SayExternalWritesAsync(NpgsqlDataSource db, bool done)
    {
        try
        {
            await using var cmd = db.CreateCommand($"SELECT pg_notify('{ExternalWritesChannel}', '{(done ? "done" : "busy")}')");
            await cmd.ExecuteNonQueryAsync();
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException or ObjectDisposedException) { }
    }

    /// Down: the tier goes (it cannot hear other processes). Either way a load under way is void.
    private void SetBus(bool down)
    {
        _lock.EnterWriteLock();
        try
        {
            _busDown = down;
            _epoch++;
            if (!down) return;
            _tier = null;
            _arrivedDuringLoad = null;
        }
        finally { _lock.ExitWriteLock(); }
    }

    private async Task LoadLoopAsync()
    {
        var ct = _stop.Token;
        var retry = TimeSpan.FromSeconds(1);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await _wake.WaitAsync(ct);
                while (_wake.CurrentCount > 0) await _wake.WaitAsync(ct);   // several wake-ups, one load
                if (await LoadOnceAsync(ct)) retry = TimeSpan.FromSeconds(1);
                else
                {
                    // Not loaded (the bus is down, or went down meanwhile): try again later.
                    _ = Task.Delay(retry, ct).ContinueWith(_ => _wake.Release(), TaskScheduler.Default);
                    retry = TimeSpan.FromTicks(Math.Min(retry.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
            catch (Exception e)
            {
                // The database is down, say: PostgreSQL keeps answering REQs (or not); try again.
                _log.HotTierLoadFailed(e.Message, (int)retry.TotalSeconds);
                _lock.EnterWriteLock();
                try { _arrivedDuringLoad = null; }
                finally { _lock.ExitWriteLock(); }
                try { await Task.Delay(retry, ct); } catch (OperationCanceledException) { }
                retry = TimeSpan.FromTicks(Math.Min(retry.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
                _wake.Release();
            }
        }
    }

    /// One load; true if the loaded tier now answers.
    private async Task<bool> LoadOnceAsync(CancellationToken ct)
    {
        int epoch;
        _lock.EnterWriteLock();
        try
        {
            if (_tier is not null) return true;
            if (_busDown || !_busUp() || Environment.TickCount64 < Volatile.Read(ref _externalUntil)) return false;
            epoch = _epoch;
            _arrivedDuringLoad = [];   // before the load's snapshot: whatever it misses arrives here
        }
        finally { _lock.ExitWriteLock(); }
        // Events published from now on must reach this process: after a reconnect, the
        // subscription may not be restored yet although the connection is.
        if (!_listening || !await _busProven(ct))
        {
            _lock.EnterWriteLock();
            try { _arrivedDuringLoad = null; }
            finally { _lock.ExitWriteLock(); }
            return false;
        }
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var fresh = new RecentEvents(_budget, _relayUrl);
        await fresh.LoadAsync(_db, ct);
        _lock.EnterWriteLock();
        try
        {
            if (epoch != _epoch || _arrivedDuringLoad is not { } arrived)
            {
                _arrivedDuringLoad = null;
                return false;   // the bus went down meanwhile: events may be missing
            }
            foreach (var e in arrived) fresh.Replay(e);
            _arrivedDuringLoad = null;
            _readyAt = _seq;
            _tier = fresh;
        }
        finally { _lock.ExitWriteLock(); }
        _log.HotTierLoaded(fresh.Count, fresh.Bytes / (1024 * 1024), fresh.Horizon == long.MinValue ? "all stored events" : $"created_at >= {fresh.Horizon}",
            (int)System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        return true;
    }

    /// Never throws.
    public async ValueTask DisposeAsync()
    {
        try { _stop.Cancel(); } catch (ObjectDisposedException) { }
        foreach (var loop in new[] { _loader, _listener })
            if (loop is not null)
            {
                try { await loop; } catch (Exception) { /* the loops log their own failures */ }
            }
    }
}
