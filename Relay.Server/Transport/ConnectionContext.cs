using Relay.Server.Configuration;
using Relay.Server.Observability;
using Relay.Server.Policies;
using Relay.Server.Protocol;
using Relay.Server.Subscriptions;

namespace Relay.Server.Transport;

/// What every connection needs from the rest of the relay, wired once by RelayHost.
internal sealed class ConnectionContext
{
    public required RelayOptions Options { get; init; }
    public required RelayLog Log { get; init; }
    public required RelayMetrics Metrics { get; init; }
    public required ConnectionRegistry Connections { get; init; }
    public required SubscriptionIndex Subscriptions { get; init; }
    public required ClientMessageParser Parser { get; init; }
    public required MessageHandler Handler { get; init; }
    public required RelayPolicies Policies { get; init; }
    /// The NIP-11 document, encoded once.
    public required byte[] RelayInfo { get; init; }
}
