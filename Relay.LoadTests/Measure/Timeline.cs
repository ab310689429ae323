using System.Diagnostics;

namespace Relay.LoadTests.Measure;

/// Once a second: takes a snapshot of the scenario's counters, keeps the per-second rates for the
/// over-time chart, and prints one progress line (to stderr, so stdout carries only the results).
internal sealed class Timeline : IAsyncDisposable
{
    private readonly Func<double[], double[], string> _line;
    private readonly Func<double[]> _counters;
    private readonly CpuMeter _cpu;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly long _start = Stopwatch.GetTimestamp();

    /// counters: cumulative counts (e.g. OKs, events) read once a second; line: the progress text
    /// from the counters and their per-second rates.
    public Timeline(int? relayPid, Func<double[]> counters, Func<double[], double[], string> line)
    {
        _counters = counters;
        _line = line;
        _cpu = new CpuMeter(relayPid);
        _loop = RunAsync();
    }

    public List<double> Seconds { get; } = [];

    /// Per-second deltas of each counter.
    public List<double[]> Rates { get; } = [];

    public List<double> LoadgenCpuPercent { get; } = [];

    public List<double> RelayCpuPercent { get; } = [];

    private async Task RunAsync()
    {
        var last = _counters();
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                var now = _counters();
                var cpu = _cpu.Elapsed();
                _cpu.Restart();
                var delta = new double[now.Length];
                for (var i = 0; i < now.Length; i++) delta[i] = (now[i] - last[i]) / cpu.WallSeconds;
                last = now;
                var t = Stopwatch.GetElapsedTime(_start).TotalSeconds;
                lock (Rates)
                {
                    Seconds.Add(t);
                    Rates.Add(delta);
                    LoadgenCpuPercent.Add(cpu.LoadgenPercent);
                    RelayCpuPercent.Add(cpu.RelayPercent);
                }
                var relay = double.IsNaN(cpu.RelayPercent) ? "" : $" relay {cpu.RelayPercent:F0}%";
                Console.Error.WriteLine($"[{t,5:F0}s] {_line(now, delta)} | cpu loadgen {cpu.LoadgenPercent:F0}%{relay}");
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public double[] Series(int counter)
    {
        lock (Rates) return Rates.Select(r => r[counter]).ToArray();
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }
}
