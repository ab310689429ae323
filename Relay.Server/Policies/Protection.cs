using Relay.Storage.Model;

namespace Relay.Server.Policies;

/// NIP-42 rules for writing: events marked protected (NIP-70 `["-"]`) only from their
/// authenticated author, and, when the operator asks, any event only from an authenticated client.
internal static class Protection
{
    public static readonly WritePolicy ProtectedEvents = (e, session, _) =>
    {
        if (!e.IsProtected || session.IsAuthenticatedAs(Key32.Parse(e.Pubkey))) return null;
        return session.IsAuthenticated
            ? "restricted: this event is protected and may only be published by its author"
            : "auth-required: this event is protected; authenticate as its author to publish it";
    };

    public static readonly WritePolicy AuthRequiredForWrite = (e, session, _) =>
        session.IsAuthenticated || e.Kind == Kinds.RequestToVanish ? null : "auth-required: this relay accepts events only from authenticated clients";

    public static readonly FilterPolicy AuthRequiredForRead = (_, session) =>
        session.IsAuthenticated ? null : "auth-required: this relay serves only authenticated clients";
}
