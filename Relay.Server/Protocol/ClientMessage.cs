using Relay.Storage.Model;

namespace Relay.Server.Protocol;

internal enum ClientMessageType : byte { Invalid, Event, Req, Close, Count, Auth }

/// One parsed client message. For an invalid message, <see cref="Error"/> says why, prefixed as
/// NIP-01 asks ("invalid: …"); <see cref="EventId"/> or <see cref="SubId"/> say whom to answer.
internal sealed class ClientMessage
{
    public ClientMessageType Type { get; init; }
    /// For EVENT: the type that failed to parse is still Event, so the reply is an OK false.
    public bool IsValid => Error is null;
    public string? Error { get; init; }
    public NostrEvent? Event { get; init; }
    public string? EventId { get; init; }
    public string? SubId { get; init; }
    public NostrFilter[]? Filters { get; init; }
}
