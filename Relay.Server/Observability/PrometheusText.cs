using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Relay.Server.Observability;

/// Renders one meter's instruments in the Prometheus text format (GET /metrics), through a
/// MeterListener: observable instruments are read at each render; histograms are aggregated
/// into their advised buckets as they are recorded. Names follow the OpenTelemetry-to-Prometheus
/// rules: dots become underscores, the unit is appended (`_seconds`, `_bytes`), counters end in `_total`.
internal sealed class PrometheusText : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly List<Instrument> _instruments = [];
    private readonly Lock _gate = new();
    private readonly Dictionary<Instrument, Buckets> _buckets = [];
    private Dictionary<Instrument, List<(long Value, KeyValuePair<string, object?>[] Tags)>>? _collecting;

    /// Running totals of one histogram: counts per bucket (the last is +Inf), sum and count.
    private sealed class Buckets(double[] bounds)
    {
        public readonly double[] Bounds = bounds;
        public readonly long[] Counts = new long[bounds.Length + 1];
        public double Sum;
        public long Count;
    }

    public PrometheusText(Meter meter)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter != meter) return;
            Buckets? buckets = instrument is Histogram<double> h ? new(h.Advice?.HistogramBucketBoundaries?.ToArray() ?? []) : null;
            lock (_gate)
            {
                _instruments.Add(instrument);
                if (buckets is not null) _buckets[instrument] = buckets;
            }
            listener.EnableMeasurementEvents(instrument, buckets);
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            // Only observable instruments report longs, and only during Render (under _gate).
            if (_collecting is not { } c) return;
            if (!c.TryGetValue(instrument, out var list)) c[instrument] = list = [];
            list.Add((value, tags.ToArray()));
        });
        _listener.SetMeasurementEventCallback<double>((_, value, _, state) =>
        {
            if (state is not Buckets b) return;
            var i = 0;
            while (i < b.Bounds.Length && value > b.Bounds[i]) i++;
            lock (b)
            {
                b.Counts[i]++;
                b.Sum += value;
                b.Count++;
            }
        });
        _listener.Start();
    }

    public string Render()
    {
        var sb = new StringBuilder(4096);
        lock (_gate)
        {
            _collecting = [];
            try { _listener.RecordObservableInstruments(); }
            finally
            {
                var collected = _collecting;
                _collecting = null;
                foreach (var instrument in _instruments) Append(sb, instrument, collected);
            }
        }
        return sb.ToString();
    }

    private void Append(StringBuilder sb, Instrument instrument, Dictionary<Instrument, List<(long, KeyValuePair<string, object?>[])>> collected)
    {
        var type = instrument switch
        {
            ObservableCounter<long> => "counter",
            Histogram<double> => "histogram",
            _ => "gauge",
        };
        var name = PrometheusName(instrument, type);
        sb.Append("# HELP ").Append(name).Append(' ').Append(instrument.Description).Append('\n');
        sb.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
        if (type == "histogram")
        {
            var b = _buckets[instrument];
            lock (b)
            {
                long cumulative = 0;
                for (var i = 0; i < b.Counts.Length; i++)
                {
                    cumulative += b.Counts[i];
                    var le = i < b.Bounds.Length ? b.Bounds[i].ToString(CultureInfo.InvariantCulture) : "+Inf";
                    sb.Append(name).Append("_bucket{le=\"").Append(le).Append("\"} ").Append(cumulative).Append('\n');
                }
                sb.Append(name).Append("_sum ").Append(b.Sum.ToString(CultureInfo.InvariantCulture)).Append('\n');
                sb.Append(name).Append("_count ").Append(b.Count).Append('\n');
            }
            return;
        }
        if (!collected.TryGetValue(instrument, out var samples)) return;
        foreach (var (value, tags) in samples)
        {
            sb.Append(name);
            if (tags.Length > 0)
            {
                sb.Append('{');
                for (var i = 0; i < tags.Length; i++)
                {
                    if (i > 0) sb.Append(',');
                    sb.Append(tags[i].Key).Append("=\"")
                      .Append(Convert.ToString(tags[i].Value, CultureInfo.InvariantCulture)?.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n"))
                      .Append('"');
                }
                sb.Append('}');
            }
            sb.Append(' ').Append(value).Append('\n');
        }
    }

    public static string PrometheusName(Instrument instrument, string type)
    {
        var name = instrument.Name.Replace('.', '_');
        name += instrument.Unit switch
        {
            "s" => "_seconds",
            "By" => "_bytes",
            _ => "",
        };
        return type == "counter" ? name + "_total" : name;
    }

    public void Dispose() => _listener.Dispose();
}
