using System.Threading.Channels;
using Relay.Server.Observability;
using Relay.Server.Subscriptions;
using Relay.Storage.Model;

namespace Relay.Server.Fanout;

/// Single-node bus: one loop takes published events in order and matches them against the
/// subscription index, so publishers (the writer, the verifiers) never wait on fan-out.
/// Observers of stored events (web of trust, deletion records) see each event first, whether this
/// process or another one (through Redis) stored it.
internal sealed class LocalEventBus(SubscriptionIndex index, RelayMetrics metrics, Action<NostrEvent>[]? observers = null, RelayLog? log = null) : IEventBus
{
    private readonly Channel<NostrEvent> _queue = Channel.CreateUnbounded<NostrEvent>(new UnboundedChannelOptions { SingleReader = true });
    private Task? _loop;

    public void Publish(NostrEvent e) => _queue.Writer.TryWrite(e);

    public void Start() => _loop = Task.Run(RunAsync);

    private async Task RunAsync()
    {
        await foreach (var e in _queue.Reader.ReadAllAsync())
        {
            try
            {
                if (observers is not null)
                    foreach (var observe in observers) observe(e);
                metrics.LiveEventsSent.Add(index.Dispatch(e));
            }
            catch (Exception ex)
            {
                log?.DispatchFailed(ex);   // our bug: this event is lost to live subscribers, the loop goes on
            }
        }
    }

    public async Task StopAsync()
    {
        _queue.Writer.TryComplete();
        if (_loop is not null) await _loop;
    }
}
