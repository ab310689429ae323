using System.Text.Json;
using Relay.Server.Configuration;

namespace Relay.Server.Http;

/// The NIP-11 relay information document, written once with Utf8JsonWriter (no reflection).
internal static class RelayInfoDocument
{
    public static readonly int[] SupportedNips = [1, 11, 40, 45];

    public static byte[] Build(RelayOptions o, string version)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("name", o.Name);
            w.WriteString("description", o.Description);
            if (o.AdminPubkey is { } pk) w.WriteString("pubkey", pk);
            if (o.Contact is { } contact) w.WriteString("contact", contact);
            if (o.Icon is { } icon) w.WriteString("icon", icon);
            w.WriteStartArray("supported_nips");
            foreach (var n in SupportedNips) w.WriteNumberValue(n);
            w.WriteEndArray();
            w.WriteString("software", "relay (C# Native AOT nostr relay)");
            w.WriteString("version", version);
            w.WriteStartObject("limitation");
            w.WriteNumber("max_message_length", o.MaxMessageBytes);
            w.WriteNumber("max_subscriptions", o.MaxSubscriptions);
            w.WriteNumber("max_filters", o.MaxFilters);
            w.WriteNumber("max_limit", o.MaxLimit);
            w.WriteNumber("default_limit", o.MaxLimit);
            w.WriteNumber("max_subid_length", o.MaxSubIdLength);
            w.WriteNumber("max_event_tags", Storage.Model.EventParser.MaxTags);
            w.WriteNumber("max_content_length", o.MaxEventBytes);
            w.WriteNumber("min_pow_difficulty", 0);
            w.WriteBoolean("auth_required", false);
            w.WriteBoolean("payment_required", false);
            w.WriteBoolean("restricted_writes", false);
            w.WriteNumber("created_at_lower_limit", 0);
            w.WriteNumber("created_at_upper_limit", o.MaxFutureSeconds);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return stream.ToArray();
    }
}
