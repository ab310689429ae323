using Relay.Server.Fanout;
using Relay.Server.Ingest;
using Relay.Server.Observability;
using Relay.Server.Policies;
using Relay.Server.Store;
using Relay.Storage.Model;
using Secp256k1Net;

namespace Relay.Server.Verify;

/// BIP-340 signature checks on worker threads (one per core by default), each with its own
/// libsecp256k1 context and queue (see VerifyQueues), so socket loops never run the maths.
/// Valid ephemeral events go straight to the bus; the rest go on to the writer.
internal sealed class SignatureVerifier(
    VerifyQueues queues, WriteQueues writeQueues, IEventBus bus,
    EventIngester ingester, WritePolicy[] verifiedPolicies, RelayLog log, RelayMetrics metrics,
    Func<IReadOnlyList<IngestJob>, bool, ValueTask<HashSet<string>>> storedIds)
{
    private Task[] _workers = [];

    public void Start()
    {
        _workers = new Task[queues.Count];
        for (var i = 0; i < _workers.Length; i++)
        {
            var reader = queues.Reader(i);
            _workers[i] = Task.Factory.StartNew(() => RunAsync(reader), TaskCreationOptions.LongRunning).Unwrap();
        }
    }

    /// Events taken from the queue at a time: one database look-up covers the whole batch.
    private const int BatchSize = 64;

    private const int LookUpFromBatchSize = 8;

    private async Task RunAsync(System.Threading.Channels.ChannelReader<IngestJob> queue)
    {
        using var secp = new Secp256k1();
        var batch = new List<IngestJob>(BatchSize);
        while (await queue.WaitToReadAsync())
        {
            while (batch.Count < BatchSize && queue.TryRead(out var job)) batch.Add(job);
            if (batch.Count == 0) continue;
            var handed = 0;
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            try
            {
                // Re-broadcasts of old events are common: answer them without the signature check.
                // The hot tier answers from memory; a database look-up is a round trip, worth it
                // for a batch: a few events cost less to verify than to look up, and the writer
                // still answers a stored one "duplicate:".
                var stored = await storedIds(batch, batch.Count >= LookUpFromBatchSize);
                for (; handed < batch.Count; handed++)
                {
                    var job = batch[handed];
                    var e = job.Event;
                    if (stored.Contains(e.Id)) ingester.Finish(job, EventOutcome.Duplicate);
                    else if (!job.Source.SignaturesTrusted && !Verify(secp, e)) ingester.Finish(job, EventOutcome.Rejected, "invalid: bad signature");
                    else if (RefusedOnceProven(job) is { } refused) ingester.Finish(job, EventOutcome.Rejected, refused);
                    else if (e.Class == KindClass.Ephemeral)
                    {
                        bus.Publish(e);
                        ingester.Finish(job, EventOutcome.Ephemeral);
                    }
                    else await writeQueues.WriteAsync(job);
                }
            }
            catch (Exception e)
            {
                // Our bug or a closed write queue at shutdown: this worker goes on with the next
                // batch, and every event of this one not yet handed on gets an answer.
                if (e is not System.Threading.Channels.ChannelClosedException) log.VerifyFailed(e);
                for (; handed < batch.Count; handed++)
                    ingester.Finish(batch[handed], EventOutcome.Rejected, "error: could not process the event, try again later");
            }
            metrics.VerifyBatchEvents.Record(batch.Count);
            metrics.VerifyBatchSeconds.Record(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
            batch.Clear();
        }
    }

    /// The write rules that need the author proven (the per-author rate limit).
    private string? RefusedOnceProven(IngestJob job)
    {
        if (verifiedPolicies.Length == 0) return null;   // the usual case: no clock read per event
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        foreach (var policy in verifiedPolicies)
            if (policy(job.Event, job.Source.Session, now) is { } refused) return refused;
        return null;
    }

    public static bool Verify(Secp256k1 secp, NostrEvent e)
    {
        Span<byte> pubkey = stackalloc byte[32];
        Span<byte> xonly = stackalloc byte[64];
        Span<byte> id = stackalloc byte[32];
        Span<byte> sig = stackalloc byte[64];
        e.PubkeyKey.WriteBytes(pubkey);   // parsed once, at the parser
        e.IdKey.WriteBytes(id);
        Convert.FromHexString(e.Sig, sig, out _, out _);
        return secp.XonlyPubkeyParse(xonly, pubkey) && secp.SchnorrsigVerify(sig, id, xonly);
    }

    [ThreadStatic] private static Secp256k1? t_secp;

    /// For the rare event checked outside the workers (NIP-42 AUTH, seed contact lists): one
    /// context per thread, created on first use.
    public static bool Verify(NostrEvent e) => Verify(t_secp ??= new Secp256k1(), e);

    /// The package loads libsecp256k1.so from beside the binary; without it, the system's copy
    /// (too old on Debian 12) fails on first use. Check once at start-up with a known signature.
    public static string? CheckLibrary()
    {
        try
        {
            using var secp = new Secp256k1();
            var e = EventParser.TryParse(KnownGoodEvent, out _)!;
            return Verify(secp, e) ? null : "libsecp256k1 rejected a known-good signature";
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException or TypeInitializationException or BadImageFormatException)
        {
            return $"libsecp256k1 could not be loaded ({ex.Message}); keep libsecp256k1.so beside the relay binary";
        }
    }

    private static ReadOnlySpan<byte> KnownGoodEvent => KnownGood.Event;

    public async Task StopAsync() => await Task.WhenAll(_workers);
}
