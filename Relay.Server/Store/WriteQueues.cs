using System.Threading.Channels;
using Relay.Server.Ingest;
using Relay.Storage.Model;

namespace Relay.Server.Store;

/// One bounded queue per writer loop. Versions of one replaceable or addressable event always
/// go to the same writer, so two writers of this process never wait on each other's advisory
/// lock for the same key (with one shared queue they did, and ran one after the other much of
/// the time); every other event goes to its sender's writer, so one client's events (an event
/// and the deletion that follows it) take effect in the order they were sent.
internal sealed class WriteQueues
{
    private readonly Channel<IngestJob>[] _queues;

    public WriteQueues(int writers, int capacityEach)
    {
        _queues = new Channel<IngestJob>[writers];
        for (var i = 0; i < writers; i++)
            _queues[i] = Channel.CreateBounded<IngestJob>(new BoundedChannelOptions(capacityEach) { SingleReader = true });
    }

    public ChannelReader<IngestJob> Reader(int writer) => _queues[writer].Reader;

    /// Waits while the chosen queue is full: back-pressure on the verifiers, nothing dropped.
    public ValueTask WriteAsync(IngestJob job) => QueueFor(job).Writer.WriteAsync(job);

    private Channel<IngestJob> QueueFor(IngestJob job)
    {
        if (_queues.Length == 1) return _queues[0];
        var e = job.Event;
        var cls = e.Class;
        if (cls is KindClass.Replaceable or KindClass.Addressable)
        {
            var key = HashCode.Combine(e.Pubkey, e.Kind, cls is KindClass.Addressable ? e.DTag : "");
            return _queues[(int)((uint)key % (uint)_queues.Length)];
        }
        return _queues[(int)((ulong)job.Source.Session.Id % (ulong)_queues.Length)];
    }

    public void Complete()
    {
        foreach (var q in _queues) q.Writer.TryComplete();
    }
}
