using BenchmarkDotNet.Attributes;
using Relay.Server.Verify;
using Relay.Storage.Model;
using Secp256k1Net;

namespace Relay.Bench.Verify;

/// BIP-340 verification as SignatureVerifier's workers run it. One event on one context; then
/// 2,000 distinct events on one core and split across every core, each thread with its own
/// context as the workers have; the batch ones report time per signature.
[MemoryDiagnoser]
public class SignatureVerifierBench
{
    private const int BatchSize = 2000;

    private Secp256k1 _secp = null!;
    private Secp256k1[] _perCore = [];
    private NostrEvent[] _batch = [];

    [GlobalSetup]
    public void Setup()
    {
        _secp = new Secp256k1();
        _perCore = [.. Enumerable.Range(0, Environment.ProcessorCount).Select(_ => new Secp256k1())];
        _batch = Samples.SignedBatch(BatchSize);
        if (!SignatureVerifier.Verify(_secp, Samples.Kind1) || VerifyBatchOneCore() != BatchSize || VerifyBatchAllCores() != BatchSize)
            throw new InvalidOperationException("sample signatures do not verify");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _secp.Dispose();
        foreach (var s in _perCore) s.Dispose();
    }

    [Benchmark(Baseline = true)]
    public bool VerifyOne() => SignatureVerifier.Verify(_secp, Samples.Kind1);

    [Benchmark(OperationsPerInvoke = BatchSize)]
    public int VerifyBatchOneCore()
    {
        var valid = 0;
        foreach (var e in _batch) if (SignatureVerifier.Verify(_secp, e)) valid++;
        return valid;
    }

    /// Per-signature time across Environment.ProcessorCount threads; compare with the one-core
    /// batch from the same run to see the scaling (on 2 cores, at best half).
    [Benchmark(OperationsPerInvoke = BatchSize)]
    public int VerifyBatchAllCores()
    {
        var valid = 0;
        var workers = _perCore.Length;
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, w =>
        {
            var secp = _perCore[w];
            int from = BatchSize * w / workers, to = BatchSize * (w + 1) / workers, n = 0;
            for (var i = from; i < to; i++) if (SignatureVerifier.Verify(secp, _batch[i])) n++;
            Interlocked.Add(ref valid, n);
        });
        return valid;
    }
}
