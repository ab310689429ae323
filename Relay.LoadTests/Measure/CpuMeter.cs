using System.Diagnostics;

namespace Relay.LoadTests.Measure;

/// CPU used over a span of wall time, by us and (when its pid is known) by the relay. The load
/// generator shares the machine's cores with the relay, so every figure is reported beside it.
internal readonly record struct CpuUse(double WallSeconds, double LoadgenCpuSeconds, double RelayCpuSeconds)
{
    /// Percent of one core (200 = both cores of a 2-core machine).
    public double LoadgenPercent => WallSeconds > 0 ? 100 * LoadgenCpuSeconds / WallSeconds : 0;

    public double RelayPercent => WallSeconds > 0 && !double.IsNaN(RelayCpuSeconds) ? 100 * RelayCpuSeconds / WallSeconds : double.NaN;

    public string Describe() =>
        $"loadgen {LoadgenPercent:F0}% ({LoadgenCpuSeconds:F1} s / {WallSeconds:F1} s)"
        + (double.IsNaN(RelayPercent) ? "" : $", relay {RelayPercent:F0}%");
}

internal sealed class CpuMeter
{
    private readonly int? _relayPid;
    private long _startTicks;
    private TimeSpan _startSelf;
    private double _startRelay;

    public CpuMeter(int? relayPid)
    {
        _relayPid = relayPid;
        Restart();
    }

    public static TimeSpan OwnCpu()
    {
        using var self = Process.GetCurrentProcess();
        return self.TotalProcessorTime;
    }

    public void Restart()
    {
        _startTicks = Stopwatch.GetTimestamp();
        _startSelf = OwnCpu();
        _startRelay = _relayPid is { } pid ? ProcFs.CpuSeconds(pid) : double.NaN;
    }

    /// CPU since the last <see cref="Restart"/>.
    public CpuUse Elapsed()
    {
        var wall = Stopwatch.GetElapsedTime(_startTicks).TotalSeconds;
        var self = (OwnCpu() - _startSelf).TotalSeconds;
        var relay = _relayPid is { } pid ? ProcFs.CpuSeconds(pid) - _startRelay : double.NaN;
        return new CpuUse(wall, self, relay);
    }
}
