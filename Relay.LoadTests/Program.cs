using Relay.LoadTests.Cli;
using Relay.LoadTests.Scenarios;

namespace Relay.LoadTests;

internal static class Program
{
    private const string Usage = """
        Relay.LoadTests: load generator for a Nostr relay on this machine (loopback targets only).

        Usage: dotnet Relay.LoadTests.dll <scenario> [--url ws://127.0.0.1:8008] [options]

          seed       --count 20000 --out events.jsonl [--authors 1000 --seed 42 --days 30 --threads N]
          ingest     --events events.jsonl [--connections 8 --window 500 --limit N --duration 300 --drain 30]
          query      --events events.jsonl [--clients 16 --duration 30 --types author,e,p,since,ids]
          fanout     [--subscribers 2000 --match-fraction 1.0 --rate 50 --duration 30 --batch 200 --grace 5]
          conns      --pid <relay pid> [--connections 10000 --step 1000 --parallel 200 --settle 2]
          slowreader [--healthy 200 --slow 100 --rate 200 --size 16384 --duration 30 --pid <relay pid>]
          stalled    --events events.jsonl [--stalled 20 --reqs 10 --filters 20 --limit 500 --probes 100 --timeout 120]

        Common options (all but seed):
          --url ws://127.0.0.1:8008   relay under test (ws://, loopback only)
          --pid N                     relay process: its CPU (and RSS) are reported beside ours
          --label NAME                name of the target in the report (default: process name)
          --out DIR                   report folder (default ./loadtest-results/<scenario>-<timestamp>/)

        Progress goes to stderr; stdout ends with one line `RESULT {json}`. See README.md.
        """;

    public static async Task<int> Main(string[] argv)
    {
        if (argv.Length == 0 || argv[0] is "-h" or "--help" or "help")
        {
            Console.Error.WriteLine(Usage);
            return argv.Length == 0 ? 2 : 0;
        }
        using var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            // First Ctrl+C: stop the scenario and still write the report; second one: exit.
            if (cts.IsCancellationRequested) return;
            e.Cancel = true;
            Console.Error.WriteLine("stopping (Ctrl+C again to abort)…");
            cts.Cancel();
        };
        try
        {
            var args = Args.Parse(argv);
            return args.Scenario switch
            {
                "seed" => SeedScenario.Run(args, cts.Token),
                "ingest" => await IngestScenario.RunAsync(args, cts.Token),
                "query" => await QueryScenario.RunAsync(args, cts.Token),
                "fanout" => await FanoutScenario.RunAsync(args, cts.Token),
                "conns" => await ConnsScenario.RunAsync(args, cts.Token),
                "slowreader" => await SlowReaderScenario.RunAsync(args, cts.Token),
                "stalled" => await StalledReadersScenario.RunAsync(args, cts.Token),
                _ => throw new UsageException($"unknown scenario '{args.Scenario}'"),
            };
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine("error: " + e.Message);
            Console.Error.WriteLine();
            Console.Error.WriteLine(Usage);
            return 2;
        }
        catch (ScenarioException e)
        {
            Console.Error.WriteLine("error: " + e.Message);
            return 1;
        }
    }
}
