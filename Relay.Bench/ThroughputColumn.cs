using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Relay.Bench;

/// A "GB/s" column: the benchmark's byte-count parameter divided by its mean time, shown only for
/// the named methods (the others in the class don't touch every byte).
internal sealed class ThroughputColumn(string bytesParam, params string[] methods) : IColumn
{
    public string Id => $"{nameof(ThroughputColumn)}.{bytesParam}";
    public string ColumnName => "GB/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => $"{bytesParam} bytes processed per second, in 10^9";

    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, summary.Style);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        if (!methods.Contains(benchmarkCase.Descriptor.WorkloadMethod.Name)) return "-";
        var bytes = benchmarkCase.Parameters.Items.FirstOrDefault(p => p.Name == bytesParam)?.Value;
        var mean = summary[benchmarkCase]?.ResultStatistics?.Mean;
        if (bytes is not int n || mean is not > 0) return "-";
        return (n / mean.Value).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture);   // bytes/ns = GB/s
    }
}

/// Adds <see cref="ThroughputColumn"/> for <c>PayloadBytes</c> and methods named Unmask.
internal sealed class UnmaskThroughputConfig : ManualConfig
{
    public UnmaskThroughputConfig() => AddColumn(new ThroughputColumn("PayloadBytes", "Unmask"));
}
