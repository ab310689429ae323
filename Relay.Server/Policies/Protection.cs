using Relay.Storage.Model;

namespace Relay.Server.Policies;

/// NIP-42 rules for writing: events marked protected (NIP-70 `["-"]`) only from their
/// authenticated author, and, when the operator asks, any event only from an authenticated client.
internal static class Protection
{
    public static readonly WritePolicy ProtectedEvents = (e, session, _) =>
    {
        if (!e.IsProtected || session.IsOperator || session.IsAuthenticatedAs(e.PubkeyKey)) return null;
        return session.IsAuthenticated
            ? "restricted: this event is protected and may only be published by its author"
            : "auth-required: this event is protected; authenticate as its author to publish it";
    };

    // NIP-62: a request to vanish from this relay is followed whoever sends it.
    public static WritePolicy AuthRequiredForWrite(string? relayUrl) => (e, session, _) =>
        session.IsAuthenticated || session.IsOperator || (e.Kind == Kinds.RequestToVanish && DeletionRequests.VanishesHere(e, relayUrl))
            ? null : "auth-required: this relay accepts events only from authenticated clients";

    public static readonly FilterPolicy AuthRequiredForRead = (_, session) =>
        session.IsAuthenticated ? null : "auth-required: this relay serves only authenticated clients";
}
