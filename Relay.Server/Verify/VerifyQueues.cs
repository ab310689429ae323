using System.Threading.Channels;
using Relay.Server.Ingest;

namespace Relay.Server.Verify;

/// One bounded queue per verifier worker. A sender's events always go to the same worker, so
/// they reach the writers in the order they were sent (a profile saved twice quickly must end
/// with the second version); different senders spread over the workers.
internal sealed class VerifyQueues
{
    private readonly Channel<IngestJob>[] _queues;

    public VerifyQueues(int workers, int capacityEach)
    {
        _queues = new Channel<IngestJob>[workers];
        for (var i = 0; i < workers; i++)
            _queues[i] = Channel.CreateBounded<IngestJob>(new BoundedChannelOptions(capacityEach) { SingleReader = true });
    }

    public int Count => _queues.Length;
    public ChannelReader<IngestJob> Reader(int worker) => _queues[worker].Reader;

    /// Waits while the sender's queue is full: back-pressure on its reads, nothing dropped.
    public ValueTask WriteAsync(IngestJob job, CancellationToken ct) =>
        _queues[(int)((ulong)job.Source.Session.Id % (ulong)_queues.Length)].Writer.WriteAsync(job, ct);

    public void Complete()
    {
        foreach (var q in _queues) q.Writer.TryComplete();
    }
}
