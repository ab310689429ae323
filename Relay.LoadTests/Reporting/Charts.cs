using Relay.LoadTests.Measure;
using ScottPlot;

namespace Relay.LoadTests.Reporting;

/// ScottPlot PNGs for the report. A chart that cannot be drawn (e.g. no native Skia) is
/// reported on stderr and left out; the figures never depend on it.
internal static class Charts
{
    private const int Width = 900;
    private const int Height = 420;

    public static readonly double[] Percentiles = [50, 75, 90, 95, 99, 99.9, 99.99, 100];

    public static void Lines(string path, string title, string xLabel, string yLabel, IEnumerable<(string Name, double[] X, double[] Y)> series) =>
        Draw(path, plot =>
        {
            foreach (var (name, x, y) in series)
            {
                if (x.Length == 0) continue;
                var s = plot.Add.Scatter(x, y);
                s.LegendText = name;
                s.MarkerSize = x.Length > 60 ? 0 : 4;
                s.LineWidth = 2;
            }
            plot.Title(title);
            plot.XLabel(xLabel);
            plot.YLabel(yLabel);
            plot.Axes.Margins(bottom: 0);
            plot.ShowLegend(Alignment.UpperRight);
        });

    /// Grouped bars: one group per category, one bar per series in each group.
    public static void Bars(string path, string title, string yLabel, string[] categories, IReadOnlyList<(string Name, double[] Values)> series) =>
        Draw(path, plot =>
        {
            var palette = new ScottPlot.Palettes.Category10();
            var width = 0.8 / Math.Max(1, series.Count);
            for (var s = 0; s < series.Count; s++)
            {
                var bars = new List<Bar>();
                for (var c = 0; c < categories.Length; c++)
                {
                    var v = series[s].Values[c];
                    bars.Add(new Bar
                    {
                        Position = c + (s - (series.Count - 1) / 2.0) * width,
                        Value = double.IsNaN(v) ? 0 : v,
                        Size = width * 0.95,
                        FillColor = palette.GetColor(s),
                    });
                }
                plot.Add.Bars(bars);
                plot.Legend.ManualItems.Add(new LegendItem { LabelText = series[s].Name, FillColor = palette.GetColor(s) });
            }
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
                Enumerable.Range(0, categories.Length).Select(i => (double)i).ToArray(), categories);
            plot.Title(title);
            plot.YLabel(yLabel);
            plot.Axes.Margins(bottom: 0);
            plot.ShowLegend(Alignment.UpperLeft);
        });

    /// Latency (ms) at p50 … max, one line per recorder.
    public static void LatencyByPercentile(string path, string title, IEnumerable<(string Name, LatencyRecorder Latency)> series) =>
        Draw(path, plot =>
        {
            var xs = Enumerable.Range(0, Percentiles.Length).Select(i => (double)i).ToArray();
            foreach (var (name, lat) in series)
            {
                if (lat.Count == 0) continue;
                var ys = Percentiles.Select(p => lat.Percentile(p) / 1000.0).ToArray();
                var s = plot.Add.Scatter(xs, ys);
                s.LegendText = $"{name} (n={lat.Count:N0})";
                s.MarkerSize = 6;
                s.LineWidth = 2;
            }
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
                xs, Percentiles.Select(p => p == 100 ? "max" : $"p{p}").ToArray());
            plot.Title(title);
            plot.YLabel("latency (ms)");
            plot.Axes.Margins(bottom: 0);
            plot.ShowLegend(Alignment.UpperLeft);
        });

    /// The CPU of both processes over the run, from a timeline.
    public static void Cpu(string path, Timeline timeline)
    {
        var x = timeline.Seconds.ToArray();
        var series = new List<(string, double[], double[])> { ("load generator", x, timeline.LoadgenCpuPercent.ToArray()) };
        if (timeline.RelayCpuPercent.Any(v => !double.IsNaN(v))) series.Add(("relay", x, timeline.RelayCpuPercent.ToArray()));
        Lines(path, "CPU (percent of one core)", "seconds", "% CPU", series);
    }

    private static void Draw(string path, Action<Plot> build)
    {
        try
        {
            using var plot = new Plot();
            build(plot);
            plot.SavePng(path, Width, Height);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Console.Error.WriteLine($"chart {Path.GetFileName(path)} not drawn: {e.GetType().Name}: {e.Message}");
        }
    }
}
