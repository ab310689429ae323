using Relay.Server.Configuration;

namespace Relay.Server.Policies;

/// Size and time limits of one event (NIP-11 `limitation`), the cheapest rules, run first.
internal static class EventLimits
{
    public static WritePolicy Size(int maxBytes)
    {
        var message = $"invalid: event is larger than {maxBytes} bytes";
        return (e, _, _) => e.Raw.Length > maxBytes ? message : null;
    }

    public static WritePolicy Tags(int maxTags)
    {
        var message = $"invalid: too many tags (max {maxTags})";
        return (e, _, _) => e.Tags.Length > maxTags ? message : null;
    }

    public static WritePolicy Content(int maxLength)
    {
        var message = $"invalid: content is longer than {maxLength} bytes";
        return (e, _, _) => e.ContentLength > maxLength ? message : null;
    }

    /// Too far ahead is clock skew or abuse; too far back only when the operator says so (by
    /// default old events are accepted, so archives can be imported).
    public static WritePolicy CreatedAt(int maxFutureSeconds, int maxPastSeconds)
    {
        var future = $"invalid: created_at is more than {maxFutureSeconds} seconds in the future";
        var past = $"invalid: created_at is more than {maxPastSeconds} seconds in the past";
        return (e, _, now) =>
            e.CreatedAt > now + maxFutureSeconds ? future
            : maxPastSeconds > 0 && e.CreatedAt < now - maxPastSeconds ? past
            : null;
    }

    /// NIP-40: an event that has already expired is not taken.
    public static readonly WritePolicy NotExpired = (e, _, now) =>
        e.Expiration is { } at && at <= now ? "invalid: event has expired" : null;

    public static IEnumerable<WritePolicy> From(RelayOptions o) =>
    [
        Size(o.MaxEventBytes),
        Tags(o.MaxEventTags),
        Content(o.MaxContentLength),
        CreatedAt(o.MaxFutureSeconds, o.MaxPastSeconds),
        NotExpired,
    ];
}
