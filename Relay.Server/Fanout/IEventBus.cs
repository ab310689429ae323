using Relay.Storage.Model;

namespace Relay.Server.Fanout;

/// Carries accepted events to live subscriptions: in this process (<see cref="LocalEventBus"/>),
/// or through Redis pub/sub to every relay process sharing the database.
internal interface IEventBus
{
    /// Called after the event is committed (or, for ephemeral kinds, verified). Never blocks.
    void Publish(NostrEvent e);
}
