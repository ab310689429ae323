using System.Diagnostics;
using System.Diagnostics.Metrics;
using Relay.Server.Protocol;

namespace Relay.Server.Observability;

/// A monotonically increasing count, updated without locks or delegates: the hot path only
/// does an Interlocked add. The meter reads it when someone asks (/metrics, OTLP).
internal sealed class Counter
{
    private long _value;
    public long Value => Interlocked.Read(ref _value);
    public void Increment() => Interlocked.Increment(ref _value);
    public void Add(long n) => Interlocked.Add(ref _value, n);
}

/// The relay's instruments on one System.Diagnostics.Metrics meter ("Relay"): /metrics renders
/// them as Prometheus text (PrometheusText) and, with OTEL_EXPORTER_OTLP_ENDPOINT set, the
/// OpenTelemetry SDK exports the same meter. Counters are observable over lock-free longs;
/// histograms are recorded once per batch, never per message. Spans come from <see cref="Tracing"/>.
internal sealed class RelayMetrics : IDisposable
{
    public const string Name = "Relay";

    /// One span per REQ query and per write batch; StartActivity returns null (and costs
    /// nothing) unless an exporter listens.
    public static readonly ActivitySource Tracing = new(Name);

    public Meter Meter { get; } = new(Name, RelayHost.Version);
    private readonly PrometheusText _prometheus;

    public Counter WebSocketsOpened { get; } = new();
    public Counter ConnectionsRefused { get; } = new();
    public Counter SlowReadersClosed { get; } = new();
    public Counter EventsReceived { get; } = new();
    public Counter EventsStored { get; } = new();
    public Counter EventsDuplicate { get; } = new();
    public Counter EventsEphemeral { get; } = new();
    public Counter Reqs { get; } = new();
    public Counter StoredEventsSent { get; } = new();
    public Counter LiveEventsSent { get; } = new();
    public Counter DatabaseErrors { get; } = new();
    public Counter RedisErrors { get; } = new();
    public Counter ReplicaCatchUps { get; } = new();

    public Histogram<double> VerifyBatchEvents { get; }
    public Histogram<double> VerifyBatchSeconds { get; }
    public Histogram<double> WriteBatchEvents { get; }
    public Histogram<double> WriteBatchSeconds { get; }

    /// Refusals by their NIP-01 prefix, so an operator sees what is being turned away.
    private static readonly string[] RejectionPrefixes = ["invalid", "blocked", "rate-limited", "auth-required", "restricted", "pow", "duplicate", "error", "other"];
    private readonly long[] _rejectedBy = new long[RejectionPrefixes.Length];

    /// Client messages by type (EVENT, REQ, …; "invalid" for one that could not be parsed).
    private static readonly string[] MessageTypes = ["EVENT", "REQ", "CLOSE", "COUNT", "AUTH", "invalid"];
    private readonly long[] _messages = new long[MessageTypes.Length];

    private static readonly double[] SizeBuckets = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];
    private static readonly double[] SecondsBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

    public RelayMetrics()
    {
        Observe(WebSocketsOpened, "relay.websockets.opened", "WebSocket sessions opened");
        Observe(ConnectionsRefused, "relay.connections.refused", "Connections refused (connection limits, descriptors)");
        Observe(SlowReadersClosed, "relay.slow_readers.closed", "Connections closed because they did not read what they were sent");
        Meter.CreateObservableCounter("relay.messages.received", () => Tagged(_messages, MessageTypes, "type"), null, "Client messages, by type");
        Observe(EventsReceived, "relay.events.received", "EVENT messages received");
        Observe(EventsStored, "relay.events.stored", "Events committed to the database (OK true)");
        Observe(EventsDuplicate, "relay.events.duplicate", "Events answered OK true duplicate:");
        Observe(EventsEphemeral, "relay.events.ephemeral", "Ephemeral events broadcast");
        Meter.CreateObservableCounter("relay.events.rejected", () => Tagged(_rejectedBy, RejectionPrefixes, "reason"), null,
            "Events answered OK false, by NIP-01 prefix");
        Observe(Reqs, "relay.reqs", "REQ subscriptions opened");
        Observe(StoredEventsSent, "relay.events.sent.stored", "Stored events sent in answer to REQs");
        Observe(LiveEventsSent, "relay.events.sent.live", "Live events delivered to subscriptions");
        Observe(DatabaseErrors, "relay.database.errors", "Database operations that failed (write batches after their retry, queries)");
        Observe(RedisErrors, "relay.redis.errors", "Redis publishes that failed and connection failures");
        Observe(ReplicaCatchUps, "relay.queries.replica_caught_up", "REQs answered by a lagging replica, completed after EOSE with events it had not replayed yet");
        // The runtime's own: what a large hot tier costs the garbage collector shows here.
        Meter.CreateObservableCounter("relay.gc.collections", () => new Measurement<long>[]
        {
            new(GC.CollectionCount(0), new KeyValuePair<string, object?>("generation", "0")),
            new(GC.CollectionCount(1), new KeyValuePair<string, object?>("generation", "1")),
            new(GC.CollectionCount(2), new KeyValuePair<string, object?>("generation", "2")),
        }, null, "Garbage collections, by generation (each counts the younger ones too)");
        Meter.CreateObservableCounter("relay.gc.pause_ms", () => (long)GC.GetTotalPauseDuration().TotalMilliseconds, null, "Milliseconds the garbage collector paused the process");
        Meter.CreateObservableGauge("relay.gc.heap", () => GC.GetGCMemoryInfo().HeapSizeBytes, "By", "Managed heap size after the last collection");
        VerifyBatchEvents = Meter.CreateHistogram("relay.verify.batch.events", null, "Events per signature-verification batch", null,
            new InstrumentAdvice<double> { HistogramBucketBoundaries = SizeBuckets });
        VerifyBatchSeconds = Meter.CreateHistogram("relay.verify.batch.duration", "s", "Time to verify one batch", null,
            new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
        WriteBatchEvents = Meter.CreateHistogram("relay.write.batch.events", null, "Events per database write batch", null,
            new InstrumentAdvice<double> { HistogramBucketBoundaries = SizeBuckets });
        WriteBatchSeconds = Meter.CreateHistogram("relay.write.batch.duration", "s", "Time to write and commit one batch", null,
            new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
        _prometheus = new PrometheusText(Meter);
    }

    private void Observe(Counter c, string name, string help) => Meter.CreateObservableCounter(name, () => c.Value, null, help);

    private static IEnumerable<Measurement<long>> Tagged(long[] counts, string[] names, string tag)
    {
        var all = new Measurement<long>[counts.Length];
        for (var i = 0; i < counts.Length; i++) all[i] = new(Interlocked.Read(ref counts[i]), new KeyValuePair<string, object?>(tag, names[i]));
        return all;
    }

    /// Counts one OK false by its message's prefix.
    public void Rejected(string message)
    {
        var colon = message.IndexOf(':');
        var prefix = colon > 0 ? message.AsSpan(0, colon) : [];
        var i = 0;
        while (i < RejectionPrefixes.Length - 1 && !prefix.SequenceEqual(RejectionPrefixes[i])) i++;
        Interlocked.Increment(ref _rejectedBy[i]);
    }

    /// By the type the message named (a malformed EVENT still counts as EVENT); "invalid" when none.
    public void MessageReceived(ClientMessageType type) =>
        Interlocked.Increment(ref _messages[type switch
        {
            ClientMessageType.Event => 0,
            ClientMessageType.Req => 1,
            ClientMessageType.Close => 2,
            ClientMessageType.Count => 3,
            ClientMessageType.Auth => 4,
            _ => 5,
        }]);

    /// A gauge read when asked (WoT set size, queue depths, …); registered once at start-up.
    /// <paramref name="unit"/> as OpenTelemetry writes it ("By" for bytes), or null.
    public void AddGauge(string name, string? unit, string help, Func<IEnumerable<Measurement<long>>> read) =>
        Meter.CreateObservableGauge(name, read, unit, help);

    public void AddGauge(string name, string help, Func<long> read, string? unit = null) => Meter.CreateObservableGauge(name, read, unit, help);

    /// Prometheus text of every instrument, for GET /metrics.
    public string Render() => _prometheus.Render();

    public void Dispose()
    {
        _prometheus.Dispose();
        Meter.Dispose();
    }
}
