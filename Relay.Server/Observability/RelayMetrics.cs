using System.Text;

namespace Relay.Server.Observability;

/// A monotonically increasing count, updated without locks.
internal sealed class Counter(string name, string help)
{
    private long _value;
    public string Name { get; } = name;
    public string Help { get; } = help;
    public long Value => Interlocked.Read(ref _value);
    public void Increment() => Interlocked.Increment(ref _value);
    public void Add(long n) => Interlocked.Add(ref _value, n);
}

/// The relay's counters, rendered as Prometheus text at GET /metrics.
internal sealed class RelayMetrics
{
    public Counter WebSocketsOpened { get; } = new("relay_websockets_opened_total", "WebSocket sessions opened");
    public Counter ConnectionsRefused { get; } = new("relay_connections_refused_total", "Connections refused at the connection limit");
    public Counter SlowReadersClosed { get; } = new("relay_slow_readers_closed_total", "Connections closed because their send queue was full");
    public Counter EventsReceived { get; } = new("relay_events_received_total", "EVENT messages received");
    public Counter EventsStored { get; } = new("relay_events_stored_total", "Events committed to the database");
    public Counter EventsDuplicate { get; } = new("relay_events_duplicate_total", "Events answered as duplicates");
    public Counter EventsRejected { get; } = new("relay_events_rejected_total", "Events answered OK false");
    public Counter EventsEphemeral { get; } = new("relay_events_ephemeral_total", "Ephemeral events broadcast");
    public Counter Reqs { get; } = new("relay_reqs_total", "REQ subscriptions opened");
    public Counter StoredEventsSent { get; } = new("relay_stored_events_sent_total", "Stored events sent in answer to REQs");
    public Counter LiveEventsSent { get; } = new("relay_live_events_sent_total", "Live events delivered to subscriptions");

    /// Refusals by their NIP-01 prefix, so an operator sees what is being turned away.
    private static readonly string[] RejectionPrefixes = ["invalid", "blocked", "rate-limited", "auth-required", "restricted", "pow", "duplicate", "error"];
    private readonly long[] _rejectedBy = new long[RejectionPrefixes.Length + 1];

    /// Counts one OK false by its message's prefix.
    public void Rejected(string message)
    {
        EventsRejected.Increment();
        var colon = message.IndexOf(':');
        var prefix = colon > 0 ? message.AsSpan(0, colon) : [];
        var i = 0;
        while (i < RejectionPrefixes.Length && !prefix.SequenceEqual(RejectionPrefixes[i])) i++;
        Interlocked.Increment(ref _rejectedBy[i]);
    }

    /// Extra gauges (WoT set size, …) rendered with the counters; registered once at start-up.
    /// A gauge reads its samples when /metrics is asked: (labels such as `depth="1"` or "", value).
    private readonly List<(string Name, string Help, Func<IEnumerable<(string Labels, long Value)>> Read)> _gauges = [];
    public void AddGauge(string name, string help, Func<IEnumerable<(string Labels, long Value)>> read)
    {
        lock (_gauges) _gauges.Add((name, help, read));
    }

    private IEnumerable<Counter> All => [WebSocketsOpened, ConnectionsRefused, SlowReadersClosed, EventsReceived, EventsStored,
        EventsDuplicate, EventsRejected, EventsEphemeral, Reqs, StoredEventsSent, LiveEventsSent];

    public string Render(int openConnections)
    {
        var sb = new StringBuilder();
        sb.Append("# HELP relay_connections Open connections\n# TYPE relay_connections gauge\nrelay_connections ").Append(openConnections).Append('\n');
        foreach (var c in All)
            sb.Append("# HELP ").Append(c.Name).Append(' ').Append(c.Help).Append("\n# TYPE ").Append(c.Name).Append(" counter\n")
              .Append(c.Name).Append(' ').Append(c.Value).Append('\n');
        sb.Append("# HELP relay_events_rejected_by_reason_total Events answered OK false, by NIP-01 prefix\n# TYPE relay_events_rejected_by_reason_total counter\n");
        for (var i = 0; i <= RejectionPrefixes.Length; i++)
            sb.Append("relay_events_rejected_by_reason_total{reason=\"").Append(i < RejectionPrefixes.Length ? RejectionPrefixes[i] : "other")
              .Append("\"} ").Append(Interlocked.Read(ref _rejectedBy[i])).Append('\n');
        lock (_gauges)
            foreach (var (name, help, read) in _gauges)
            {
                sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append("\n# TYPE ").Append(name).Append(" gauge\n");
                foreach (var (labels, value) in read())
                    sb.Append(name).Append(labels.Length > 0 ? "{" + labels + "}" : "").Append(' ').Append(value).Append('\n');
            }
        return sb.ToString();
    }
}
