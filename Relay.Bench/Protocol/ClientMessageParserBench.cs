using BenchmarkDotNet.Attributes;
using Relay.Server.Protocol;

namespace Relay.Bench.Protocol;

/// Parsing one client message. EVENT includes the field checks, the canonical id preimage and
/// SHA-256, and the re-serialised Raw; REQ builds two NostrFilter objects.
[MemoryDiagnoser]
public class ClientMessageParserBench
{
    // The relay's defaults (RelayOptions.MaxSubIdLength, MaxFilters).
    private readonly ClientMessageParser _parser = new(64, 20);

    [GlobalSetup]
    public void Setup()
    {
        if (_parser.Parse(Samples.EventMessage) is not { IsValid: true, Event: not null }) throw new InvalidOperationException("EVENT sample does not parse");
        if (_parser.Parse(Samples.ReqMessage) is not { IsValid: true, Filters.Length: 2 }) throw new InvalidOperationException("REQ sample does not parse");
    }

    [Benchmark]
    public object ParseEvent() => _parser.Parse(Samples.EventMessage);

    [Benchmark]
    public object ParseReqTwoFilters() => _parser.Parse(Samples.ReqMessage);
}
