using BenchmarkDotNet.Running;

namespace Relay.Bench;

/// Runs the benchmarks named by --filter, e.g.
/// `dotnet Relay.Bench.dll --filter '*FrameReader*' --job short --inProcess`; or
/// `dotnet Relay.Bench.dll tier-memory events.jsonl` (the hot tier's bytes per event).
// --inProcess keeps BenchmarkDotNet from generating and building a child project: that build
// would write the relay projects' default bin/obj folders, which other builds on a shared
// machine use. The default (out-of-process) toolchain isolates runs better where that is safe.
public static class Program
{
    public static void Main(string[] args)
    {
        if (args is ["tier-memory", var path]) { Model.TierMemory.Run(path); return; }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
