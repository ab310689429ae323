using System.Threading.Channels;

namespace Relay.Server.Ingest;

/// One bounded queue per worker loop of a stage (verifiers, writers); the stage decides which
/// queue a job goes to. Writing to a full queue waits: back-pressure, nothing dropped.
internal abstract class JobQueues
{
    private readonly Channel<IngestJob>[] _queues;

    protected JobQueues(int workers, int capacityEach)
    {
        _queues = new Channel<IngestJob>[workers];
        for (var i = 0; i < workers; i++)
            _queues[i] = Channel.CreateBounded<IngestJob>(new BoundedChannelOptions(capacityEach) { SingleReader = true });
    }

    public int Count => _queues.Length;

    /// Jobs waiting in all the queues (a gauge for /metrics).
    public long Depth => _queues.Sum(q => (long)q.Reader.Count);
    public ChannelReader<IngestJob> Reader(int worker) => _queues[worker].Reader;

    protected ChannelWriter<IngestJob> Writer(int worker) => _queues[worker].Writer;

    /// The queue of this sender (spread over the queues, the same one each time).
    protected int QueueOf(IEventSource source) => (int)((ulong)source.Session.Id % (ulong)_queues.Length);

    public void Complete()
    {
        foreach (var q in _queues) q.Writer.TryComplete();
    }
}
